"""Normalization: batch norm and layer norm (fused ops with a closed-form backward; layer
norm's op is in ``normalization_layer.py``), and group norm, instance norm and F.normalize
(compositions of differentiable ops, or of batch norm).

Batch norm takes (N, C, ...) inputs: (N, C), (N, C, L), (N, C, H, W), ... Training normalizes
with the batch statistics and updates the running statistics in place (PyTorch's convention:
the running variance uses the unbiased batch variance). Evaluation normalizes with the running
statistics.

Batch norm's backward is the closed form, twice: on raw arrays when it is not recorded (the
common case: two passes, one for the sums and one for the input gradient), and written with
differentiable ops when it is (``create_graph=True``), so that second derivatives (gradient
penalties, gradgradcheck) are exact. Both evaluate the same formula; the gradient checks test
both. The raw passes (the forward's too) run on two threads over blocks of the batch
(``normalization_passes.py``).
"""

from __future__ import annotations

import math

from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.arguments import flag, ints, positive, real, tensor_args
from tinygen.autograd.ops.conversion import clone
from tinygen.autograd.ops.elementwise import abs, clamp, pow, sqrt, where
from tinygen.autograd.ops.normalization_layer import LayerNorm
from tinygen.autograd.ops.normalization_passes import (
    AffineNormalization,
    block_sum,
    by_channel,
    by_position,
    channel_dot,
    channel_sum,
    in_blocks,
)
from tinygen.autograd.ops.reduction import amax, amin, mean, sum
from tinygen.autograd.ops.shape import expand, reshape
from tinygen.autograd.tensor import Tensor, _writable
from tinygen.backend import get_array_module


def _layout(x_shape: tuple) -> tuple[tuple, tuple]:
    """(reduced axes, broadcast shape of per-channel values) for (N, C, ...)."""
    spatial = len(x_shape) - 2
    return (0, *range(2, 2 + spatial)), (1, x_shape[1]) + (1,) * spatial


class BatchNorm(AffineNormalization):
    """y = weight * (x - mean) / sqrt(var + eps) + bias, per channel. Inputs: x, then the
    weight and the bias when they are given (each is optional)."""

    def __init__(self, running_mean, running_var, training: bool, momentum: float, eps: float,
                 has_weight: bool, has_bias: bool):
        self.running_mean = running_mean
        self.running_var = running_var
        self.training = training
        self.momentum = momentum
        self.eps = eps
        self.has_weight = has_weight
        self.has_bias = has_bias

    def forward(self, x, *params):
        xp = get_array_module(x)
        weight, bias = self._params(params)
        x3 = by_channel(x)
        batch, _, positions = x3.shape
        count = batch * positions
        y3 = xp.empty_like(x3)

        def passes(work):  # work(low, high) on blocks of the batch
            return in_blocks(work, batch, x3.size, x3)

        if self.training:
            # an empty batch: zero statistics instead of 0/0, and the running ones left as
            # they are (as PyTorch); the output is empty anyway
            batch_mean = block_sum(passes(lambda low, high: channel_sum(
                xp, x3[low:high]))) / max(count, 1)
            mean_rows = by_position(xp, batch_mean, batch, positions)

            def squares(low, high):  # sum((x - mean)^2), x - mean into y
                centered = xp.subtract(x3[low:high], mean_rows, out=y3[low:high])
                return channel_dot(xp, centered, centered)

            batch_var = block_sum(passes(squares)) / max(count, 1)
            if self.running_mean is not None and count:
                self._update_running_stats(batch_mean, batch_var, count)
        else:
            # copies in x's dtype: a later training step changes the running stats in place
            batch_mean = self.running_mean.astype(x.dtype)
            batch_var = self.running_var.astype(x.dtype)
            mean_rows = by_position(xp, batch_mean, batch, positions)
            passes(lambda low, high: xp.subtract(x3[low:high], mean_rows, out=y3[low:high]))
        inv_std = 1.0 / xp.sqrt(batch_var + self.eps)
        scale_rows = by_position(xp, inv_std if weight is None else inv_std * weight,
                                 batch, positions)
        bias_rows = None if bias is None else by_position(xp, bias, batch, positions)

        def normalize(low, high):  # (x - mean) * weight * inv_std + bias
            yb = y3[low:high]
            yb *= scale_rows
            if bias_rows is not None:
                yb += bias_rows

        passes(normalize)
        self.cache_for_backward(mean=batch_mean, inv_std=inv_std)  # per channel: cheap
        self.save_for_backward(x, weight)
        # the module's buffers serve the forward only; the graph need not keep them
        self.running_mean = self.running_var = None
        return y3.reshape(x.shape)  # (N, C, L) -> x's shape

    def _update_running_stats(self, batch_mean, batch_var, count):
        # In place, like PyTorch: the caller's buffers are the model's running statistics.
        unbiased = batch_var * (count / max(count - 1, 1))
        # a sanctioned write: a live graph that saved a buffer's array refuses to backward
        with _writable(self.running_mean, "batch_norm"), \
                _writable(self.running_var, "batch_norm"):
            self.running_mean *= 1 - self.momentum
            self.running_mean += self.momentum * batch_mean
            self.running_var *= 1 - self.momentum
            self.running_var += self.momentum * unbiased

    def backward(self, gy):
        # gx = weight*inv_std * (gy - mean(gy) - x̂ mean(gy x̂)) (training; eval: weight*inv_std*gy),
        # g_weight = sum(gy x̂), g_bias = sum(gy), means and sums per channel
        x, weight = self.saved_tensors
        if is_grad_enabled():
            gx, g_weight, g_bias = self._differentiable_backward(gy, x, weight)
        else:
            gx, g_weight, g_bias = self._array_backward(gy.data, x.data, weight)
        return self._gradients(gx, g_weight, g_bias)

    def _array_backward(self, g, x, weight):
        xp = get_array_module(g)
        wants_x, wants_weight, wants_bias = self._wanted()
        g3, x3 = by_channel(g), by_channel(x)
        batch, _, positions = g3.shape
        count = max(batch * positions, 1)  # an empty batch: empty gx, zero sums
        inv_std = self.cached("inv_std")
        mean_rows = by_position(xp, self.cached("mean"), batch, positions)
        needs_dot = wants_weight or (wants_x and self.training)

        def passes(work):  # work(low, high) on blocks of the batch
            return in_blocks(work, batch, g3.size, g3)

        gx3 = xp.empty_like(g3) if wants_x or needs_dot else None

        def sums(low, high):  # sum(gy) and sum(gy (x - mean)), x - mean into gx
            gb = g3[low:high]
            centered = xp.subtract(x3[low:high], mean_rows, out=gx3[low:high]) \
                if needs_dot else None
            return (channel_sum(xp, gb),
                    None if centered is None else channel_dot(xp, gb, centered))

        partial = passes(sums)
        g_bias = block_sum([part[0] for part in partial])
        g_weight = None
        if needs_dot:
            g_weight = block_sum([part[1] for part in partial]) * inv_std
        gx = None
        if wants_x:
            scale = inv_std if weight is None else inv_std * weight.data
            scale_rows = by_position(xp, scale, batch, positions)
            if self.training:
                slope_rows = by_position(xp, inv_std * g_weight / count, batch, positions)
                shift_rows = by_position(xp, g_bias / count, batch, positions)

                def input_grad(low, high):
                    # gy - mean(gy) - x̂ mean(gy x̂), with x̂ = (x - mean) * inv_std
                    gxb = gx3[low:high]  # x - mean, from the sums' pass
                    gxb *= slope_rows
                    gxb += shift_rows
                    xp.subtract(g3[low:high], gxb, out=gxb)
                    gxb *= scale_rows
            else:
                def input_grad(low, high):
                    xp.multiply(g3[low:high], scale_rows, out=gx3[low:high])

            passes(input_grad)
            gx = Tensor._from_array(gx3.reshape(x.shape))  # (N, C, L) -> x's shape
        return (gx, None if g_weight is None else Tensor._from_array(g_weight),
                Tensor._from_array(g_bias) if wants_bias else None)

    def _differentiable_backward(self, gy, x, weight):
        wants_x, wants_weight, wants_bias = self._wanted()
        axes, per_channel = _layout(x.shape)
        if self.training:
            # the statistics as functions of x, so that the result differentiates through them
            centered = x - mean(x, axis=axes, keepdims=True)
            inv_std = 1.0 / sqrt(mean(centered * centered, axis=axes, keepdims=True)
                                 + self.eps)
        else:
            # (C,) -> (1, C, 1, ...): the running statistics are constants here
            centered = x - Tensor._from_array(self.cached("mean").reshape(per_channel))
            inv_std = Tensor._from_array(self.cached("inv_std").reshape(per_channel))
        x_hat = centered * inv_std
        g_bias = sum(gy, axis=axes)
        g_weight = sum(gy * x_hat, axis=axes)
        gx = None
        if wants_x:
            # (C,) -> (1, C, 1, ...), to broadcast over the batch (and space)
            scale = inv_std if weight is None else inv_std * reshape(weight, per_channel)
            if self.training:
                count = max(x.shape[0] * math.prod(x.shape[2:]), 1)  # values per channel
                gx = scale * (gy - reshape(g_bias, per_channel) / count
                              - x_hat * reshape(g_weight, per_channel) / count)
            else:
                gx = scale * gy
        return gx, g_weight if wants_weight else None, g_bias if wants_bias else None


@tensor_args
def batch_norm(x: Tensor, running_mean=None, running_var=None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over the batch (and spatial) axes of (N, C, ...), as
    ``torch.nn.functional.batch_norm``.

    Args:
        x: the input, (N, C) or (N, C, *spatial): (N, C, L), (N, C, H, W), ...
        running_mean, running_var: (C,) arrays or Tensors (their arrays are used), updated
            in place in training; both None in training to use batch statistics only.
        weight, bias: optional (C,) scale and shift (either may be omitted).
        training: use batch statistics (and update the running ones) if True.
        momentum: the running statistics' update weight.
        eps: added to the variance for stability.

    Returns:
        A tensor of x's shape and dtype.
    """
    # momentum only matters where the running statistics are updated
    _check_hyperparameters("batch_norm", eps, momentum if training else None, training)
    if x.ndim < 2 and x.numel() == 0:
        return clone(x)  # PyTorch's answer for an empty input of any shape: a copy
    if x.ndim < 2:
        raise ValueError(f"batch_norm: x must be (N, C, ...) with at least 2 axes, got shape "
                         f"{x.shape}")
    channels = x.shape[1]
    running_mean = _raw_stat("batch_norm", "running_mean", running_mean, channels)
    running_var = _raw_stat("batch_norm", "running_var", running_var, channels)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                         "running_var, got None")
    # PyTorch's test: a single value per channel cannot be normalized (an empty batch can)
    if training and x.shape[0] * math.prod(x.shape[2:]) == 1:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel, got "
                         f"input shape {x.shape}")
    for label, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (channels,):
            raise ValueError(f"batch_norm: {label} must have shape ({channels},), got "
                             f"{param.shape}")
    params = [p for p in (weight, bias) if p is not None]
    function = BatchNorm(running_mean, running_var, training, momentum, eps,
                         has_weight=weight is not None, has_bias=bias is not None)
    return function.apply(x, *params)


def _check_hyperparameters(op: str, eps, momentum=None, training=None) -> None:
    """eps > 0 (eps <= 0 divides by a zero variance: all NaN), momentum in [0, 1] (outside
    it the running statistics diverge), training a bool; none NaN. PyTorch accepts all."""
    real(op, "eps", eps, low=0.0, low_open=True)
    if momentum is not None:
        real(op, "momentum", momentum, 0.0, 1.0)
    if training is not None:
        flag(op, "training", training)


def _raw_stat(op, label, value, channels):
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if not hasattr(array, "__array_interface__") and not hasattr(
            array, "__cuda_array_interface__") or array.dtype.kind != "f":
        raise TypeError(f"{op}: {label} must be a floating Tensor or array, got "
                        f"{type(value).__name__} {getattr(array, 'dtype', '')}".rstrip())
    if array.shape != (channels,):
        raise ValueError(f"{op}: {label} must have shape ({channels},), got {array.shape}")
    return array


# --------------------------------------------------------------------------- compositions
def _standardize(x: Tensor, rows: int, run: int, eps: float) -> Tensor:
    """(x - mean) / sqrt(var + eps) over each of ``rows`` consecutive runs of ``run`` entries
    of x, with the biased variance (as PyTorch), by batch norm's fused op: x seen as one
    sample of ``rows`` channels (group norm). Its closed-form backward is about a third
    faster than the composition of means (5.5 ms against 8.2 ms forward and backward on 4096
    rows of 256 float32 values, NumPy) and keeps only x for backward."""
    standardize = BatchNorm(None, None, training=True, momentum=0.0, eps=eps,
                            has_weight=False, has_bias=False)
    # x's shape -> (1, rows, run): one batch-norm channel per run
    return reshape(standardize.apply(reshape(x, (1, rows, run))), x.shape)


def _check_affine(op: str, label: str, param, shape: tuple) -> None:
    if param is not None and tuple(param.shape) != shape:
        raise ValueError(f"{op}: {label} must have shape {shape}, got {tuple(param.shape)}")


def _per_channel(param: Tensor, ndim: int) -> Tensor:
    """(C,) -> (1, C, 1, ...): one value per channel, broadcast over batch and space."""
    return reshape(param, (1, param.shape[0]) + (1,) * (ndim - 2))


@tensor_args
def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize over the last ``len(normalized_shape)`` axes, as
    ``torch.nn.functional.layer_norm``.

    Args:
        input: (*, *normalized_shape).
        normalized_shape: an int or a tuple: the trailing shape normalized together.
        weight, bias: optional scale and shift of shape ``normalized_shape``.
        eps: added to the (biased) variance.

    Returns:
        A tensor of the input's shape.
    """
    _check_hyperparameters("layer_norm", eps)
    shape = ints("layer_norm", "normalized_shape", normalized_shape)
    count = len(shape)
    if count == 0 or input.ndim < count or tuple(input.shape[input.ndim - count:]) != shape:
        raise ValueError(f"layer_norm: normalized_shape={shape} must be the input's trailing "
                         f"shape, got input shape {tuple(input.shape)}")
    params = []
    for label, param in (("weight", weight), ("bias", bias)):
        _check_affine("layer_norm", label, param, shape)
        if param is not None:
            if param.dtype != input.dtype:  # as PyTorch: one fused op, one dtype
                raise TypeError(f"layer_norm: {label} must have the input's dtype "
                                f"{input.dtype}, got {param.dtype}")
            params.append(param)
    return LayerNorm(shape, eps, weight is not None, bias is not None).apply(input, *params)


@tensor_args
def group_norm(input: Tensor, num_groups: int, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """Normalize each sample over groups of channels (and all spatial positions), as
    ``torch.nn.functional.group_norm``.

    Args:
        input: (N, C, *spatial), C divisible by ``num_groups``.
        num_groups: G; channels c * C/G ... (c + 1) * C/G - 1 form group c.
        weight, bias: optional per-channel (C,) scale and shift.
        eps: added to the (biased) variance.

    Returns:
        A tensor of the input's shape.
    """
    _check_hyperparameters("group_norm", eps)
    if input.ndim < 2:
        raise ValueError(f"group_norm: input must be (N, C, ...) with at least 2 axes, got "
                         f"shape {tuple(input.shape)}")
    groups = positive("num_groups", num_groups, op="group_norm")
    batch, channels = input.shape[:2]
    if channels % groups:
        raise ValueError(f"group_norm: the input's {channels} channels must divide into "
                         f"num_groups={groups} groups")
    group_size = channels // groups * math.prod(input.shape[2:])
    if batch * group_size == 1:  # PyTorch's check, word for word in effect
        raise ValueError(f"group_norm: expected more than 1 value per channel, got input "
                         f"shape {tuple(input.shape)}")
    _check_affine("group_norm", "weight", weight, (channels,))
    _check_affine("group_norm", "bias", bias, (channels,))
    # a group's values are consecutive: C/G channels of prod(spatial) positions
    y = _standardize(input, batch * groups, group_size, eps)
    if weight is not None:
        y = y * _per_channel(weight, input.ndim)
    return y if bias is None else y + _per_channel(bias, input.ndim)


@tensor_args
def instance_norm(input: Tensor, running_mean=None, running_var=None,
                  weight: Tensor | None = None, bias: Tensor | None = None,
                  use_input_stats: bool = True, momentum: float = 0.1,
                  eps: float = 1e-5) -> Tensor:
    """Normalize each channel of each sample over its spatial positions, as
    ``torch.nn.functional.instance_norm``: batch norm of the input seen as one sample of
    N * C channels, which is how PyTorch defines it.

    Args:
        input: (N, C, *spatial).
        running_mean, running_var: optional (C,) arrays or Tensors. With
            ``use_input_stats`` they are updated in place with the batch average of the
            per-instance statistics; without, they are what the input is normalized with.
        weight, bias: optional per-channel (C,) scale and shift.
        use_input_stats: normalize with each instance's own statistics (True) or with the
            running ones (False).
        momentum: the running statistics' update weight.
        eps: added to the variance.

    Returns:
        A tensor of the input's shape.
    """
    updates = use_input_stats and running_mean is not None  # only then momentum is used
    _check_hyperparameters("instance_norm", eps, momentum if updates else None,
                           use_input_stats)
    if input.ndim < 2:
        raise ValueError(f"instance_norm: input must be (N, C, ...) with at least 2 axes, "
                         f"got shape {tuple(input.shape)}")
    batch, channels = input.shape[:2]
    spatial = input.shape[2:]
    if use_input_stats and math.prod(spatial) == 1:
        raise ValueError(f"instance_norm: expected more than 1 spatial element when using "
                         f"input statistics, got input shape {tuple(input.shape)}")
    running_mean = _raw_stat("instance_norm", "running_mean", running_mean, channels)
    running_var = _raw_stat("instance_norm", "running_var", running_var, channels)
    if not use_input_stats and (running_mean is None or running_var is None):
        raise ValueError("instance_norm: use_input_stats=False needs running_mean and "
                         "running_var, got None")
    _check_affine("instance_norm", "weight", weight, (channels,))
    _check_affine("instance_norm", "bias", bias, (channels,))
    xp = get_array_module(input.data)
    # (C,) -> (N*C,): channel c of sample n is channel n*C + c of the single sample below
    stats = [None if s is None else xp.tile(s, batch) for s in (running_mean, running_var)]
    params = [None if p is None else reshape(expand(reshape(p, (1, channels)),
                                                    (batch, channels)), (batch * channels,))
              for p in (weight, bias)]
    # (N, C, *spatial) -> (1, N*C, *spatial)
    y = batch_norm(reshape(input, (1, batch * channels) + spatial), *stats, *params,
                   training=use_input_stats, momentum=momentum, eps=eps)
    if use_input_stats:
        for running, tiled in zip((running_mean, running_var), stats):
            if running is not None:  # (N*C,) -> (N, C) -> (C,): the batch average
                running[...] = tiled.reshape(batch, channels).mean(axis=0)
    return reshape(y, input.shape)


def _vector_norm(x: Tensor, p: float, dim) -> Tensor:
    """The p-norm over ``dim``, kept as a size-1 axis. Where a p-norm (0 < p < inf) is 0 its
    root is not differentiable; it is taken at a stand-in 1 there and the result masked,
    so the gradient is 0 there instead of NaN."""
    if p == math.inf:
        return amax(abs(x), dim, keepdim=True)
    if p == -math.inf:
        return amin(abs(x), dim, keepdim=True)
    if p == 0:
        # the count of nonzero entries: piecewise constant, so no gradient (as PyTorch)
        return sum(Tensor._from_array((x.data != 0).astype(x.dtype)), dim, keepdim=True)
    if p == 1:
        return sum(abs(x), dim, keepdim=True)
    powered = sum(x * x if p == 2 else pow(abs(x), p), dim, keepdim=True)
    zero = powered.data == 0
    root = where(zero, 1.0, powered)
    root = sqrt(root) if p == 2 else pow(root, 1.0 / p)
    return where(zero, 0.0, root)


@tensor_args
def normalize(input: Tensor, p: float = 2.0, dim=1, eps: float = 1e-12) -> Tensor:
    """x / max(||x||_p, eps) along ``dim``, as ``torch.nn.functional.normalize``.

    Args:
        input: any shape with the ``dim`` axes.
        p: the norm's exponent (2: Euclidean; math.inf: the largest magnitude).
        dim: an axis or a tuple of axes.
        eps: the floor of the norm, so that a zero vector stays zero.

    Returns:
        A tensor of the input's shape.
    """
    real("normalize", "eps", eps, low=0.0)
    return input / clamp(_vector_norm(input, p, dim), min=eps)
