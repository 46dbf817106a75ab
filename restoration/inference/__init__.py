"""Inference: model files, the model zoo, image I/O, tiling and the ``Upscaler``.

Importing this package does not import torch; loading a model does.
"""
from __future__ import annotations

from restoration.devices import resolve_device
from restoration.inference.descriptor import ARCHS, ModelDescriptor
from restoration.inference.files import detect_arch, load_model, read_weights, save_model
from restoration.inference.io import read_image, write_image
from restoration.inference.upscaler import Upscaler
from restoration.inference.zoo import ModelInfo, default_model, list_models, models_dir

__all__ = [
    "ARCHS", "ModelDescriptor", "ModelInfo", "Upscaler", "default_model", "detect_arch", "list_models",
    "load_model", "models_dir", "read_image", "read_weights", "resolve_device", "save_model", "write_image",
]
