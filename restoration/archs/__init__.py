"""Network architectures. Each ``*_arch.py`` module registers its classes in BasicSR's ``ARCH_REGISTRY``.

BasicSR's own RRDBNet, MSRResNet and SRVGGNetCompact are used as they are (same state-dict keys);
only what BasicSR lacks is defined here.
"""
from restoration._scan import import_modules

ARCH_MODULES = import_modules(__name__, "_arch")
