"""The training core: one optimiser step (:class:`TrainStep`) made of small objects (network, optimiser, per-sample
loss, balancer, task source, EMA, threads). ``restoration train`` reaches it through the BasicSR models (their
``optimize_parameters`` delegates to it), the task probe and the group fine-tune build one each, and so do the
benchmarks."""
from restoration.training.batch import Batch, StepResult
from restoration.training.losses import PerSampleLoss, PixelLoss, gan_loss_per_sample, pixel_loss_per_sample
from restoration.training.optim import OPTIMIZERS, Ema, build_optimizer
from restoration.training.step import TaskSource, TrainStep, trainable

__all__ = ["OPTIMIZERS", "Batch", "Ema", "PerSampleLoss", "PixelLoss", "StepResult", "TaskSource", "TrainStep",
           "build_optimizer", "gan_loss_per_sample", "pixel_loss_per_sample", "trainable"]
