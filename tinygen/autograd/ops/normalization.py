"""Batch normalization for (N, C) and (N, C, H, W) inputs, with a closed-form backward.

Training normalizes with the batch statistics and updates the running statistics in place
(PyTorch's convention: the running variance uses the unbiased batch variance). Evaluation
normalizes with the running statistics.

The first-order backward is the closed form on raw arrays (one pass over the data, reusing
x̂ saved by forward). When the backward itself is recorded (``create_graph=True``), it is
instead the vector-Jacobian product of the same computation written with differentiable
ops, so second derivatives (gradient penalties, gradgradcheck) are exact.
"""

from __future__ import annotations

from tinygen.autograd.engine import grad as autograd_grad
from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import enable_grad, is_grad_enabled
from tinygen.autograd.ops.elementwise import sqrt
from tinygen.autograd.ops.reduction import mean
from tinygen.autograd.ops.shape import reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _layout(x_shape: tuple) -> tuple[tuple, tuple]:
    """(reduced axes, broadcast shape of per-channel values) for (N, C) or (N, C, H, W)."""
    if len(x_shape) == 2:
        return (0,), (1, x_shape[1])
    return (0, 2, 3), (1, x_shape[1], 1, 1)


class BatchNorm(Function):
    """y = weight * (x - mean) / sqrt(var + eps) + bias, per channel. Inputs: x, weight, bias
    (weight and bias may be omitted together: ``affine=False``)."""

    def __init__(self, running_mean, running_var, training: bool, momentum: float, eps: float):
        self.running_mean = running_mean
        self.running_var = running_var
        self.training = training
        self.momentum = momentum
        self.eps = eps

    def forward(self, x, weight=None, bias=None):
        xp = get_array_module(x)
        axes, per_channel = _layout(x.shape)
        if self.training:
            batch_mean = x.mean(axis=axes, keepdims=True)
            centered = x - batch_mean
            batch_var = (centered * centered).mean(axis=axes, keepdims=True)
            if self.running_mean is not None:
                self._update_running_stats(batch_mean, batch_var, x.size // x.shape[1])
        else:
            batch_mean = self.running_mean.reshape(per_channel)
            batch_var = self.running_var.reshape(per_channel)
            centered = x - batch_mean
        inv_std = 1.0 / xp.sqrt(batch_var + self.eps)
        x_hat = centered * inv_std
        self.x_hat, self.inv_std = x_hat, inv_std  # for the closed-form first-order backward
        self.save_for_backward(x, weight, bias)
        if weight is None:
            return x_hat
        return x_hat * weight.reshape(per_channel) + bias.reshape(per_channel)

    def _update_running_stats(self, batch_mean, batch_var, count):
        # In place, like PyTorch: the caller's buffers are the model's running statistics.
        unbiased = batch_var.reshape(-1) * (count / max(count - 1, 1))
        self.running_mean *= 1 - self.momentum
        self.running_mean += self.momentum * batch_mean.reshape(-1)
        self.running_var *= 1 - self.momentum
        self.running_var += self.momentum * unbiased

    def backward(self, gy):
        if is_grad_enabled():
            return self._recorded_backward(gy)
        # training: gx = weight*inv_std * (gy - mean(gy) - x̂ mean(gy x̂)); eval: weight*inv_std*gy
        x, weight, _bias = self.saved_tensors
        axes, per_channel = _layout(x.shape)
        g, x_hat = gy.data, self.x_hat
        g_bias = g.sum(axis=axes)
        g_weight = (g * x_hat).sum(axis=axes)
        scale = self.inv_std if weight is None else self.inv_std * weight.data.reshape(
            per_channel)
        gx = None
        if self.needs_input_grad[0]:
            if self.training:
                count = x.data.size // x.shape[1]
                gx = g - (g_bias / count).reshape(per_channel)
                gx -= x_hat * (g_weight / count).reshape(per_channel)
                gx *= scale
            else:
                gx = g * scale
        grads = [None if gx is None else Tensor._from_array(gx)]
        if weight is not None:
            grads += [Tensor._from_array(g_weight), Tensor._from_array(g_bias)]
        return tuple(grads)

    def _recorded_backward(self, gy):
        # vector-Jacobian product of the differentiable composite, itself differentiable
        x, weight, bias = self.saved_tensors
        inputs = [x] if weight is None else [x, weight, bias]
        with enable_grad():
            y = _composite(self, *inputs)
        wanted = [t for t in inputs if t.requires_grad]
        found = iter(autograd_grad(y, wanted, gy, create_graph=True, allow_unused=True))
        return tuple(next(found) if t.requires_grad else None for t in inputs)


def _composite(function: BatchNorm, x, weight=None, bias=None):
    """The same normalization written with differentiable ops (no running-stat update)."""
    axes, per_channel = _layout(x.shape)
    if function.training:
        batch_mean = mean(x, axis=axes, keepdims=True)
        centered = x - batch_mean
        inv_std = 1.0 / sqrt(mean(centered * centered, axis=axes, keepdims=True) + function.eps)
    else:
        centered = x - Tensor._from_array(function.running_mean.reshape(per_channel))
        inv_std = Tensor._from_array(function.inv_std)
    x_hat = centered * inv_std
    if weight is None:
        return x_hat
    # (C,) -> (1, C) or (1, C, 1, 1), to broadcast over the batch (and space)
    return x_hat * reshape(weight, per_channel) + reshape(bias, per_channel)


def batch_norm(x: Tensor, running_mean=None, running_var=None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over the batch (and spatial) axes of (N, C) or (N, C, H, W).

    Args:
        x: the input, (N, C) or (N, C, H, W).
        running_mean, running_var: (C,) arrays or Tensors, updated in place in training
            (may be None in training, to use batch statistics only).
        weight, bias: optional (C,) scale and shift.
        training: use batch statistics (and update the running ones) if True.
        momentum: the running statistics' update weight.
        eps: added to the variance for stability.

    Returns:
        A tensor of x's shape.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: x must be (N, C) or (N, C, H, W), got shape {x.shape}")
    channels = x.shape[1]
    running_mean = _raw_stat("running_mean", running_mean, channels)
    running_var = _raw_stat("running_var", running_var, channels)
    if not training and (running_mean is None or running_var is None):
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                         "running_var, got None")
    if training and x.size // channels < 2:
        raise ValueError(f"batch_norm: training needs more than 1 value per channel, got "
                         f"input shape {x.shape}")
    if (weight is None) != (bias is None):
        raise ValueError("batch_norm: pass both weight and bias, or neither")
    for label, param in (("weight", weight), ("bias", bias)):
        if param is not None and param.shape != (channels,):
            raise ValueError(f"batch_norm: {label} must have shape ({channels},), got "
                             f"{param.shape}")
    function = BatchNorm(running_mean, running_var, training, momentum, eps)
    if weight is None:
        return function.apply(x)
    return function.apply(x, weight, bias)


def _raw_stat(label, value, channels):
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if array.shape != (channels,):
        raise ValueError(f"batch_norm: {label} must have shape ({channels},), got {array.shape}")
    return array
