"""Batch normalization for (N, C) and (N, C, H, W) inputs, with a closed-form backward.

Training normalizes with the batch statistics and updates the running statistics in place
(PyTorch's convention: the running variance uses the unbiased batch variance). Evaluation
normalizes with the running statistics.

The backward is the closed form, twice: on raw arrays when it is not recorded (the common
case: three passes over the data into one reused buffer), and written with differentiable
ops when it is (``create_graph=True``), so that second derivatives (gradient penalties,
gradgradcheck) are exact. Both evaluate the same formula; the gradient checks test both.
"""

from __future__ import annotations

from tinygen.autograd.function import Function
from tinygen.autograd.grad_mode import is_grad_enabled
from tinygen.autograd.ops.elementwise import sqrt
from tinygen.autograd.ops.reduction import mean, sum
from tinygen.autograd.ops.shape import reshape
from tinygen.autograd.tensor import Tensor
from tinygen.backend import get_array_module


def _layout(x_shape: tuple) -> tuple[tuple, tuple]:
    """(reduced axes, broadcast shape of per-channel values) for (N, C) or (N, C, H, W)."""
    if len(x_shape) == 2:
        return (0,), (1, x_shape[1])
    return (0, 2, 3), (1, x_shape[1], 1, 1)


def _by_channel(array):
    """A (N, C, L) view with every value of a channel in axes 0 and 2."""
    # (N, C, H, W) -> (N, C, H*W); (N, C) -> (N, C, 1)
    return array.reshape(array.shape[0], array.shape[1], -1)


def _channel_sum(xp, a3):
    """(N, C, L) -> (C,): per-row sums first, so float32 accumulates over short runs."""
    return xp.einsum("ncl->nc", a3).sum(axis=0)


def _channel_dot(xp, a3, b3):
    """(N, C, L) x (N, C, L) -> (C,): sum of a*b per channel, without a product array."""
    return xp.einsum("ncl,ncl->nc", a3, b3).sum(axis=0)


class BatchNorm(Function):
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

    def _params(self, params):
        weight = params[0] if self.has_weight else None
        bias = params[-1] if self.has_bias else None
        return weight, bias

    def forward(self, x, *params):
        xp = get_array_module(x)
        weight, bias = self._params(params)
        x3 = _by_channel(x)
        count = x3.shape[0] * x3.shape[2]
        if self.training:
            batch_mean = _channel_sum(xp, x3) / count
            y3 = x3 - batch_mean[:, None]  # the centred input; normalized in place below
            batch_var = _channel_dot(xp, y3, y3) / count
            if self.running_mean is not None:
                self._update_running_stats(batch_mean, batch_var, count)
        else:
            # copies in x's dtype: a later training step changes the running stats in place
            batch_mean = self.running_mean.astype(x.dtype)
            batch_var = self.running_var.astype(x.dtype)
            y3 = x3 - batch_mean[:, None]
        inv_std = 1.0 / xp.sqrt(batch_var + self.eps)
        y3 *= (inv_std if weight is None else inv_std * weight)[:, None]
        if bias is not None:
            y3 += bias[:, None]
        self.cache_for_backward(mean=batch_mean, inv_std=inv_std)  # per channel: cheap
        self.save_for_backward(x, weight)
        # the module's buffers serve the forward only; the graph need not keep them
        self.running_mean = self.running_var = None
        return y3.reshape(x.shape)  # (N, C, L) -> x's shape

    def _update_running_stats(self, batch_mean, batch_var, count):
        # In place, like PyTorch: the caller's buffers are the model's running statistics.
        unbiased = batch_var * (count / max(count - 1, 1))
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
        grads = [gx]
        if self.has_weight:
            grads.append(g_weight)
        if self.has_bias:
            grads.append(g_bias)
        return tuple(grads)

    def _wanted(self):
        """Whether the gradient of x, of the weight and of the bias is needed."""
        wants_weight = self.has_weight and self.needs_input_grad[1]
        wants_bias = self.has_bias and self.needs_input_grad[-1]
        return self.needs_input_grad[0], wants_weight, wants_bias

    def _array_backward(self, g, x, weight):
        xp = get_array_module(g)
        wants_x, wants_weight, wants_bias = self._wanted()
        g3, x3 = _by_channel(g), _by_channel(x)
        count = g3.shape[0] * g3.shape[2]
        inv_std = self.cached("inv_std")
        g_bias = _channel_sum(xp, g3)
        gx = g_weight = None
        if wants_weight or (wants_x and self.training):
            centered = x3 - self.cached("mean")[:, None]  # becomes the gx buffer in training
            g_weight = _channel_dot(xp, g3, centered) * inv_std
        if wants_x:
            scale = inv_std if weight is None else inv_std * weight.data
            if self.training:
                # gy - mean(gy) - x̂ mean(gy x̂), with x̂ = centered * inv_std, into centered
                centered *= (inv_std * g_weight / count)[:, None]
                centered += (g_bias / count)[:, None]
                xp.subtract(g3, centered, out=centered)
                centered *= scale[:, None]
                gx = centered
            else:
                gx = g3 * scale[:, None]
            gx = Tensor._from_array(gx.reshape(x.shape))  # (N, C, L) -> x's shape
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
            # (C,) -> (1, C) or (1, C, 1, 1): the running statistics are constants here
            centered = x - Tensor._from_array(self.cached("mean").reshape(per_channel))
            inv_std = Tensor._from_array(self.cached("inv_std").reshape(per_channel))
        x_hat = centered * inv_std
        g_bias = sum(gy, axis=axes)
        g_weight = sum(gy * x_hat, axis=axes)
        gx = None
        if wants_x:
            # (C,) -> (1, C) or (1, C, 1, 1), to broadcast over the batch (and space)
            scale = inv_std if weight is None else inv_std * reshape(weight, per_channel)
            if self.training:
                count = x.numel() // x.shape[1]
                gx = scale * (gy - reshape(g_bias, per_channel) / count
                              - x_hat * reshape(g_weight, per_channel) / count)
            else:
                gx = scale * gy
        return gx, g_weight if wants_weight else None, g_bias if wants_bias else None


def batch_norm(x: Tensor, running_mean=None, running_var=None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Batch normalization over the batch (and spatial) axes of (N, C) or (N, C, H, W).

    Args:
        x: the input, (N, C) or (N, C, H, W).
        running_mean, running_var: (C,) arrays or Tensors (their arrays are used), updated
            in place in training; both None in training to use batch statistics only.
        weight, bias: optional (C,) scale and shift (either may be omitted).
        training: use batch statistics (and update the running ones) if True.
        momentum: the running statistics' update weight.
        eps: added to the variance for stability.

    Returns:
        A tensor of x's shape and dtype.
    """
    if x.ndim not in (2, 4):
        raise ValueError(f"batch_norm: x must be (N, C) or (N, C, H, W), got shape {x.shape}")
    channels = x.shape[1]
    running_mean = _raw_stat("running_mean", running_mean, channels)
    running_var = _raw_stat("running_var", running_var, channels)
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: pass both running_mean and running_var, or neither")
    if not training and running_mean is None:
        raise ValueError("batch_norm: eval mode (training=False) needs running_mean and "
                         "running_var, got None")
    if training and x.numel() // max(channels, 1) < 2:
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


def _raw_stat(label, value, channels):
    if value is None:
        return None
    array = value.data if isinstance(value, Tensor) else value
    if array.shape != (channels,):
        raise ValueError(f"batch_norm: {label} must have shape ({channels},), got {array.shape}")
    return array
