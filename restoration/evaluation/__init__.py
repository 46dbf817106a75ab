"""Evaluation: per-group test sets (HR + LQ/<group>/ + manifest) and per-group metric tables against bicubic.

Importing this package is light; torch loads when a test set is built or a model evaluated.
"""
from __future__ import annotations

from restoration.evaluation.testset import RANDOM_GROUP, TestSet, load_testset, make_testset

__all__ = ["RANDOM_GROUP", "TestSet", "load_testset", "make_testset"]
