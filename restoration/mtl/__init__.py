"""Multi-task learning over degradation tasks: gradient balancing (``restoration.mtl.balancing``) and task
competition (``restoration.mtl.competition``). Submodules import torch; this package file does not."""
