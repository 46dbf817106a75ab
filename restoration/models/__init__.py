"""Training models. Each ``*_model.py`` module registers into BasicSR's ``MODEL_REGISTRY``."""
from restoration._scan import import_modules

MODEL_MODULES = import_modules(__name__, "_model")
