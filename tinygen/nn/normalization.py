"""Normalization layers: BatchNorm1d and BatchNorm2d."""

from __future__ import annotations

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.ops import reshape
from tinygen.autograd.ops.arguments import positive
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import check_features
from tinygen.nn.module import Buffer, Module, Parameter


class _BatchNorm(Module):
    _input_ndim: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        self.num_features = positive("num_features", num_features)
        if not eps > 0:
            raise ValueError(f"{type(self).__name__}: eps must be > 0, got {eps}")
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{type(self).__name__}: momentum must be in [0, 1], got "
                             f"{momentum}")
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=np.float32)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=np.float32)) if affine else None
        if track_running_stats:
            self.running_mean = Buffer(np.zeros(num_features, dtype=np.float32))
            self.running_var = Buffer(np.ones(num_features, dtype=np.float32))
            self.num_batches_tracked = Buffer(np.zeros((), dtype=np.int64))
        else:
            self.running_mean = self.running_var = None

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._input_ndim:
            dims = " or ".join(f"{n}-D" for n in self._input_ndim)
            raise ValueError(f"{type(self).__name__}: expected a {dims} input, got shape "
                             f"{x.shape}")
        check_features(type(self).__name__, x, 1, self.num_features, "channels")
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        if x.ndim == 3:  # (N, C, L) -> (N, C, L, 1): per-channel statistics over N and L
            y = F.batch_norm(reshape(x, x.shape + (1,)), self.running_mean, self.running_var,
                             self.weight, self.bias, training=use_batch_stats,
                             momentum=self.momentum, eps=self.eps)
            return reshape(y, x.shape)
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel (as torch.nn.BatchNorm1d).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: the running statistics' update weight (new = (1 - m) old + m batch).
        affine: learn a per-channel scale (weight, ones) and shift (bias, zeros).
        track_running_stats: keep running_mean / running_var / num_batches_tracked buffers
            and use them in eval mode; if False, batch statistics are used in both modes.

    Shapes:
        the output has the input's shape.
    """

    _input_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel; arguments as in BatchNorm1d."""

    _input_ndim = (4,)
