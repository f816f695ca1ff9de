"""Normalization layers: BatchNorm1d/2d, InstanceNorm1d/2d, LayerNorm and GroupNorm, with
PyTorch's arguments, parameters, buffers, default initialisation (weight ones, bias zeros,
running mean zeros, running variance ones) and reprs."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.ops import squeeze, unsqueeze
from tinygen.autograd.tensor import Tensor
from tinygen.nn.checks import check_features, check_input, count, flag, ints, number
from tinygen.nn.module import Buffer, Module, Parameter


def _check_eps(layer: str, eps: float) -> float:
    return number(layer, "eps", eps, 0.0, above=True)


def _like(layer: Module) -> Tensor | None:
    """The tensor whose dtype an input must have: the scale, else the running mean."""
    return layer.weight if layer.weight is not None else layer.running_mean


def _affine(shape, affine: bool, bias: bool) -> tuple:
    """(weight, bias) Parameters of ``shape``, ones and zeros, or None where not wanted."""
    if not affine:
        return None, None
    return (Parameter(np.ones(shape, dtype=np.float32)),
            Parameter(np.zeros(shape, dtype=np.float32)) if bias else None)


class _NormBase(Module):
    """Per-channel normalization with optional affine parameters and running statistics."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True, *, bias: bool = True):
        name = type(self).__name__
        self.num_features = count(name, "num_features", num_features)
        self.eps = _check_eps(name, eps)
        self.momentum = number(name, "momentum", momentum, 0.0, 1.0)
        self.affine = flag(name, "affine", affine)
        self.track_running_stats = flag(name, "track_running_stats", track_running_stats)
        bias = flag(name, "bias", bias)
        self.weight, self.bias = _affine(num_features, affine, bias)
        if track_running_stats:
            self.running_mean = Buffer(np.zeros(num_features, dtype=np.float32))
            self.running_var = Buffer(np.ones(num_features, dtype=np.float32))
            self.num_batches_tracked = Buffer(np.zeros((), dtype=np.int64))
        else:
            self.running_mean = self.running_var = None

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class _BatchNorm(_NormBase):
    _input_ndim: tuple = ()

    def forward(self, x: Tensor) -> Tensor:
        check_input(type(self).__name__, x, self._input_ndim, like=_like(self), floating=True)
        check_features(type(self).__name__, x, 1, self.num_features, "channels")
        use_batch_stats = self.training or self.running_mean is None
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data = self.num_batches_tracked.data + 1
        return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                            training=use_batch_stats, momentum=self.momentum, eps=self.eps)


class BatchNorm1d(_BatchNorm):
    """Batch norm over (N, C) or (N, C, L) inputs, per channel (as torch.nn.BatchNorm1d).

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: the running statistics' update weight (new = (1 - m) old + m batch).
        affine: learn a per-channel scale (weight, ones) and shift (bias, zeros).
        track_running_stats: keep running_mean / running_var / num_batches_tracked buffers
            and use them in eval mode; if False, batch statistics are used in both modes.
        bias: (keyword) with ``affine``, whether to learn the shift too.

    Shapes:
        the output has the input's shape.
    """

    _input_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm over (N, C, H, W) inputs, per channel; arguments as in BatchNorm1d."""

    _input_ndim = (4,)


class _InstanceNorm(_NormBase):
    _unbatched_ndim = 0

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = False, track_running_stats: bool = False, *,
                 bias: bool = True):
        super().__init__(num_features, eps, momentum, affine, track_running_stats, bias=bias)

    def forward(self, input: Tensor) -> Tensor:
        name, unbatched = type(self).__name__, self._unbatched_ndim
        check_input(name, input, (unbatched, unbatched + 1), like=_like(self), floating=True)
        axis = input.ndim - unbatched
        if input.shape[axis] != self.num_features:
            message = (f"{name}: expected {self.num_features} channels on axis {axis}, got "
                       f"shape {input.shape}")
            if self.affine:
                raise ValueError(message)
            # as PyTorch: without affine parameters num_features is not used
            warnings.warn(message, stacklevel=2)
        batched = input if input.ndim == unbatched + 1 else unsqueeze(input, 0)
        y = F.instance_norm(batched, self.running_mean, self.running_var, self.weight,
                            self.bias, self.training or not self.track_running_stats,
                            self.momentum, self.eps)
        return y if batched is input else squeeze(y, 0)


class InstanceNorm1d(_InstanceNorm):
    """Instance norm over (N, C, L) or unbatched (C, L) inputs, as torch.nn.InstanceNorm1d:
    each channel of each sample normalized over its own positions.

    Args:
        num_features: C.
        eps: added to the variance.
        momentum: the running statistics' update weight.
        affine: learn a per-channel scale (weight, ones) and shift (bias, zeros); default off.
        track_running_stats: keep running statistics (the batch average of the per-instance
            ones) and normalize with them in eval mode; default off.
        bias: (keyword) with ``affine``, whether to learn the shift too.

    Shapes:
        the output has the input's shape.
    """

    _unbatched_ndim = 2


class InstanceNorm2d(_InstanceNorm):
    """Instance norm over (N, C, H, W) or unbatched (C, H, W) inputs; arguments as in
    InstanceNorm1d."""

    _unbatched_ndim = 3


class LayerNorm(Module):
    """Normalize over the trailing ``normalized_shape`` axes, as torch.nn.LayerNorm.

    Args:
        normalized_shape: an int or a tuple: the input's trailing shape.
        eps: added to the variance.
        elementwise_affine: learn a scale (weight, ones) and a shift (bias, zeros), each of
            shape ``normalized_shape``.
        bias: with ``elementwise_affine``, whether to learn the shift.

    Shapes:
        (*, *normalized_shape) -> the same shape.
    """

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True):
        shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
            else normalized_shape
        self.normalized_shape = ints("LayerNorm", "normalized_shape", shape, len(shape)
                                     if isinstance(shape, (tuple, list)) else 1)
        self.eps = _check_eps("LayerNorm", eps)
        self.elementwise_affine = flag("LayerNorm", "elementwise_affine", elementwise_affine)
        bias = flag("LayerNorm", "bias", bias)
        self.weight, self.bias = _affine(self.normalized_shape, elementwise_affine, bias)

    def forward(self, input: Tensor) -> Tensor:
        check_input("LayerNorm", input, like=self.weight, floating=True)
        trailing = len(self.normalized_shape)
        if input.shape[input.ndim - trailing:] != self.normalized_shape:
            raise ValueError(f"LayerNorm: expected an input whose trailing shape is "
                             f"normalized_shape {self.normalized_shape}, got shape "
                             f"{input.shape}")
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class GroupNorm(Module):
    """Normalize each sample over groups of channels, as torch.nn.GroupNorm.

    Args:
        num_groups: G, dividing num_channels.
        num_channels: C.
        eps: added to the variance.
        affine: learn a per-channel scale (weight, ones) and shift (bias, zeros).
        bias: (keyword) with ``affine``, whether to learn the shift.

    Shapes:
        (N, C, *) -> the same shape.
    """

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, *, bias: bool = True):
        self.num_groups = count("GroupNorm", "num_groups", num_groups)
        self.num_channels = count("GroupNorm", "num_channels", num_channels)
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, got "
                             f"num_channels={num_channels}, num_groups={num_groups}")
        self.eps = _check_eps("GroupNorm", eps)
        self.affine = flag("GroupNorm", "affine", affine)
        bias = flag("GroupNorm", "bias", bias)
        self.weight, self.bias = _affine(num_channels, affine, bias)

    def forward(self, input: Tensor) -> Tensor:
        check_input("GroupNorm", input, like=self.weight, floating=True)
        check_features("GroupNorm", input, 1, self.num_channels, "channels")
        return F.group_norm(input, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, "
                f"affine={self.affine}, bias={self.bias is not None}")
