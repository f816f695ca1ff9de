"""Weight averaging: an exponential moving average of a model's parameters, and batch-norm
statistics recomputed for averaged weights (as ``torch.optim.swa_utils``).

A GAN generator's weights keep moving after its samples are good: each step chases the
discriminator's latest opinion, so the last iterate is one point of an orbit. Averaging the
iterates (Yazici et al., 2019, "The Unusual Effectiveness of Averaging in GAN Training")
samples from the centre of that orbit instead, at the cost of one copy of the weights.
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterable

import numpy as np

from tinygen.autograd.grad_mode import no_grad
from tinygen.nn.module import Buffer, Module
from tinygen.nn.normalization import BatchNorm1d, BatchNorm2d


class AveragedModel(Module):
    """A copy of ``model`` whose parameters follow an exponential moving average of
    ``model``'s: after each ``update_parameters(model)``,
    ``averaged = decay * averaged + (1 - decay) * current``. Buffers (batch norm's running
    statistics) are copied from ``model``, so the copy can run in eval mode at once; call
    :func:`update_bn` to recompute them for the averaged weights.

    Args:
        model: the module to average; it is deep-copied, and never changed.
        decay: the weight of the old average, in [0, 1): 0.999 averages over roughly the
            last 1000 updates.

    Attributes:
        module: the averaged copy; calling the AveragedModel calls it.
        n_averaged: a buffer counting the updates.
    """

    def __init__(self, model: Module, decay: float = 0.999):
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel: model must be a Module, got {type(model).__name__}")
        if isinstance(decay, bool) or not isinstance(decay, numbers.Real):
            raise TypeError(f"AveragedModel: decay must be a real number, got "
                            f"{type(decay).__name__} {decay!r}")
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"AveragedModel: decay must be in [0, 1), got {decay}")
        self.decay = decay
        self.module = copy.deepcopy(model)
        for param in self.module.parameters():
            param.requires_grad_(False)  # the average is never trained directly
        self.n_averaged = Buffer(np.zeros((), dtype=np.int64))

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    @no_grad()
    def update_parameters(self, model: Module) -> None:
        """Move the average one step towards ``model``'s parameters; copy its buffers."""
        if not isinstance(model, Module):
            raise TypeError(f"AveragedModel.update_parameters: model must be a Module, got "
                            f"{type(model).__name__}")
        averaged = dict(self.module.named_parameters())
        current = dict(model.named_parameters())
        if averaged.keys() != current.keys():
            raise ValueError("AveragedModel.update_parameters: model's parameters "
                             f"{sorted(current)} differ from the averaged ones "
                             f"{sorted(averaged)}")
        for name, param in current.items():
            average = averaged[name]
            if average.shape != param.shape:
                raise ValueError(f"AveragedModel.update_parameters: parameter {name!r} has "
                                 f"shape {param.shape}, expected {average.shape}")
            # average <- decay * average + (1 - decay) * param, in place
            average.mul_(self.decay).add_(param.data, alpha=1 - self.decay)
        kept = dict(self.module.named_buffers())
        for name, buffer in model.named_buffers():
            # a fresh copy, not copy_: a counter like num_batches_tracked may hold a scalar
            kept[name].data = buffer.data.copy()
        self.n_averaged.data = self.n_averaged.data + 1

    def extra_repr(self) -> str:
        return f"decay={self.decay}"


@no_grad()
def update_bn(batches: Iterable, model: Module) -> None:
    """Recompute the running statistics of every batch-norm layer in ``model`` as the plain
    average over ``batches``, in train mode; the model's mode is restored afterwards. Each
    batch is passed as ``model(batch)``, or as ``model(*batch)`` if it is a tuple (e.g. a
    conditional generator's ``(z, labels)``).

    Averaged weights need this: running statistics collected while the weights moved
    describe the activations of the raw iterates, not of their average.
    """
    if not isinstance(model, Module):
        raise TypeError(f"update_bn: model must be a Module, got {type(model).__name__}")
    if isinstance(batches, (str, bytes)) or not isinstance(batches, Iterable):
        raise TypeError(f"update_bn: batches must be an iterable of inputs, got "
                        f"{type(batches).__name__}")
    norms = [layer for layer in model.modules()
             if isinstance(layer, (BatchNorm1d, BatchNorm2d)) and layer.running_mean is not None]
    if not norms:
        return
    momenta = [layer.momentum for layer in norms]
    was_training = model.training
    for layer in norms:
        layer.running_mean.zero_()
        layer.running_var.fill_(1.0)
        layer.num_batches_tracked.data = layer.num_batches_tracked.data * 0
    model.train()
    count = 0
    for count, batch in enumerate(batches, start=1):
        for layer in norms:
            # new = (1 - 1/k) old + (1/k) batch_k: the running mean of the k batches so far
            layer.momentum = 1.0 / count
        model(*batch) if isinstance(batch, tuple) else model(batch)
    if count == 0:
        raise ValueError("update_bn: batches yielded nothing")
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    model.train(was_training)
