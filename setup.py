"""Package layout that pyproject.toml cannot express: the shipped models folder ``pretrained/`` (at the top of the
repository, where a source checkout and MODELS.md put it) is installed as the data-only package
``restoration.pretrained``, so ``pip install .`` and wheels carry the default model and its manifest."""
from setuptools import find_packages, setup

setup(
    packages=[*find_packages(include=["restoration", "restoration.*"]), "restoration.pretrained"],
    package_dir={"restoration.pretrained": "pretrained"},
)
