"""The package version, in a leaf module: modules that record it (model file metadata) import it from here
rather than from ``restoration`` itself, whose lazy attributes import them back."""
__version__ = "0.1.0"
