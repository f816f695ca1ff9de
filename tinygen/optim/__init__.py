"""Optimizers, learning-rate schedules, gradient clipping and weight averaging.

Optimizers update parameters' raw arrays in place under ``no_grad`` (never building graph
nodes), as array code through the sanctioned-writer path of Tensor's in-place methods, so
each update bumps the parameter's version and a graph recorded before the step refuses to
backward through the changed values.
"""

from tinygen.optim.adam import Adam, AdamW
from tinygen.optim.adaptive import Adadelta, Adagrad, Adamax, NAdam
from tinygen.optim.averaging import AveragedModel, update_bn
from tinygen.optim.clip import clip_grad_norm_
from tinygen.optim.lr_scheduler import (
    CosineAnnealingLR,
    ExponentialLR,
    LambdaLR,
    LinearWarmup,
    LRScheduler,
    MultiStepLR,
    OneCycleLR,
    ReduceLROnPlateau,
    StepLR,
)
from tinygen.optim.optimizer import Optimizer
from tinygen.optim.rmsprop import RMSprop
from tinygen.optim.sgd import SGD

__all__ = [
    "SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "AveragedModel",
    "CosineAnnealingLR", "ExponentialLR", "LRScheduler", "LambdaLR", "LinearWarmup",
    "MultiStepLR", "NAdam", "OneCycleLR", "Optimizer", "RMSprop", "ReduceLROnPlateau",
    "StepLR", "clip_grad_norm_", "update_bn",
]
