"""Optimizers, learning-rate schedules and gradient clipping."""

from tinygen.optim.clip import clip_grad_norm_
from tinygen.optim.lr_scheduler import CosineAnnealingLR, LinearWarmup, LRScheduler, StepLR
from tinygen.optim.optimizer import SGD, Adam, AdamW, Optimizer, RMSprop

__all__ = [
    "SGD", "Adam", "AdamW", "CosineAnnealingLR", "LRScheduler", "LinearWarmup", "Optimizer",
    "RMSprop", "StepLR", "clip_grad_norm_",
]
