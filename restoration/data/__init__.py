"""Datasets and task samplers. Each ``*_dataset.py`` module registers into BasicSR's ``DATASET_REGISTRY``."""
from restoration._scan import import_modules

DATASET_MODULES = import_modules(__name__, "_dataset")
