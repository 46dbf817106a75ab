"""Gradient/loss balancing across degradation tasks or task groups: the factory and registry is
:mod:`restoration.balancers.registry`; the methods live in the other modules. Submodules import torch; this package
file does not, so importing one method module stays cheap."""
