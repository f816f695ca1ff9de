"""Layers: Linear, convolutions, batch norm, LSTM, dropout, embedding, reshaping, activations.

Default initialisations follow PyTorch's, layer by layer, so a tinygen model and its PyTorch
twin start from the same distribution.
"""

from __future__ import annotations

import math

import numpy as np

import tinygen.nn.functional as F
from tinygen.autograd.creation import zeros
from tinygen.autograd.ops import (
    flatten,
    getitem,
    reshape,
    split,
    stack,
    transpose,
)
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.module import Buffer, Module, Parameter


def _positive(name: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


def _pair(name: str, value, low: int = 1) -> tuple[int, int]:
    """An int or a pair of ints, each >= ``low``, as a pair."""
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) and v >= low for v in pair):
        raise ValueError(f"{name} must be an int >= {low} or a pair of them, got {value!r}")
    return int(pair[0]), int(pair[1])


def _uniform_parameter(shape, bound: float) -> Parameter:
    return init.uniform_(Parameter(np.empty(shape, dtype=np.float32)), -bound, bound)


def _check_features(layer: str, x: Tensor, axis: int, expected: int, what: str) -> None:
    if x.ndim == 0 or x.shape[axis] != expected:
        raise ValueError(f"{layer}: expected input with {expected} {what} on axis {axis}, got "
                         f"shape {x.shape}")


# --------------------------------------------------------------------------- linear
class Linear(Module):
    """An affine map, y = x W^T + b.

    Args:
        in_features: the size of the input's last axis.
        out_features: the size of the output's last axis.
        bias: whether to add a learned bias.

    Shapes:
        x (..., in_features) -> y (..., out_features); weight (out_features, in_features),
        bias (out_features,), initialised as in PyTorch (kaiming_uniform with a = sqrt(5),
        bias U(-1/sqrt(in_features), 1/sqrt(in_features))).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True):
        self.in_features = _positive("in_features", in_features)
        self.out_features = _positive("out_features", out_features)
        self.weight = Parameter(np.empty((out_features, in_features), dtype=np.float32))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = _uniform_parameter((out_features,), 1 / math.sqrt(in_features)) \
            if bias else None

    def forward(self, x: Tensor) -> Tensor:
        _check_features("Linear", x, -1, self.in_features, "features")
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


# --------------------------------------------------------------------------- convolutions
class _ConvBase(Module):
    def __init__(self, in_channels, out_channels, kernel_size, stride, padding, dilation,
                 groups, bias, weight_shape):
        self.in_channels = _positive("in_channels", in_channels)
        self.out_channels = _positive("out_channels", out_channels)
        self.groups = _positive("groups", groups)
        if in_channels % groups or out_channels % groups:
            raise ValueError(f"groups={groups} must divide in_channels={in_channels} and "
                             f"out_channels={out_channels}")
        self.kernel_size = _pair("kernel_size", kernel_size)
        self.stride = _pair("stride", stride)
        self.padding = _pair("padding", padding, low=0)
        self.dilation = _pair("dilation", dilation)
        self.weight = Parameter(np.empty(weight_shape, dtype=np.float32))
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        fan_in = init.fan_in_and_fan_out(self.weight)[0]
        self.bias = _uniform_parameter((out_channels,), 1 / math.sqrt(fan_in)) if bias \
            else None

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        return text + ("" if self.bias is not None else ", bias=False")


class Conv2d(_ConvBase):
    """2-D convolution (cross-correlation), as torch.nn.Conv2d.

    Args:
        in_channels, out_channels: channel counts, both divisible by ``groups``.
        kernel_size, stride, padding, dilation: ints or (h, w) pairs.
        groups: independent channel groups.
        bias: whether to add a learned per-channel bias.

    Shapes:
        x (N, in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H + 2 padding - dilation (kh - 1) - 1) // stride + 1;
        weight (out_channels, in_channels / groups, kh, kw), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 dilation=1, groups: int = 1, bias: bool = True):
        kh, kw = _pair("kernel_size", kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, (out_channels, in_channels // max(groups, 1), kh, kw))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)


class ConvTranspose2d(_ConvBase):
    """Transposed (fractionally strided) convolution, as torch.nn.ConvTranspose2d: the
    adjoint of Conv2d, used to upsample.

    Args:
        in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias:
            as in Conv2d.
        output_padding: extra rows/columns on the bottom/right, < max(stride, dilation).

    Shapes:
        x (N, in_channels, H, W) -> (N, out_channels, oh, ow) with
        oh = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1;
        weight (in_channels, out_channels / groups, kh, kw), bias (out_channels,).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 output_padding=0, groups: int = 1, bias: bool = True, dilation=1):
        kh, kw = _pair("kernel_size", kernel_size)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         groups, bias, (in_channels, out_channels // max(groups, 1), kh, kw))
        self.output_padding = _pair("output_padding", output_padding, low=0)
        # PyTorch computes a transposed conv's fan-in from weight axis 1 (out/groups)
        fan_in = self.weight.shape[1] * kh * kw
        if bias:
            self.bias = _uniform_parameter((out_channels,), 1 / math.sqrt(fan_in))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv_transpose2d(x, self.weight, self.bias, self.stride, self.padding,
                                  self.output_padding, self.dilation, self.groups)


class MaskedConv2d(Conv2d):
    """PixelCNN's masked convolution: each output pixel sees only pixels before it in raster
    order (mask "A" also hides the centre pixel; "B" shows it). With ``channel_groups=3``
    the channels are split R, G, B as in the PixelRNN paper, and at the centre group j sees
    groups before j (A) or up to j (B). The mask multiplies the weight inside the graph, so
    the weight's gradient is masked too.

    The mask is a Buffer built once (F.masked_conv2d would rebuild it, and copy it to the
    GPU, on every call); being a buffer, it moves with ``to()`` and appears in the state
    dict as ``mask``, like the ``register_buffer("mask")`` of PyTorch PixelCNNs.

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, bias: as in Conv2d.
        mask_type: "A" (first layer: the centre pixel hidden) or "B" (later layers).
        padding: None (the default) keeps the image size at stride 1.
        channel_groups: None, or the number of colour groups (3 for RGB); it must divide
            both channel counts.

    Shapes:
        as Conv2d; with the default padding and stride, (N, C_in, H, W) -> (N, C_out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, mask_type: str = "B",
                 stride=1, padding=None, dilation=1, bias: bool = True,
                 channel_groups: int | None = None):
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        kh, kw = _pair("kernel_size", kernel_size)
        dh, dw = _pair("dilation", dilation)
        if padding is None:  # "same" padding keeps the image size, as PixelCNN needs
            padding = (dh * (kh - 1) // 2, dw * (kw - 1) // 2)
        super().__init__(in_channels, out_channels, kernel_size, stride, padding, dilation,
                         1, bias)
        self.mask_type = mask_type
        self.channel_groups = channel_groups
        self.mask = Buffer(F.conv_mask(self.weight.shape, mask_type, channel_groups))

    def forward(self, x: Tensor) -> Tensor:
        # the mask's rows below the centre are zero, so only the rows above and at the centre
        # are convolved; the weight and its state_dict keep the full kernel
        return F.conv2d_top_rows(x, self.weight * self.mask, self.bias, self.stride,
                                 self.padding, self.dilation)

    def extra_repr(self) -> str:
        text = super().extra_repr() + f", mask_type={self.mask_type!r}"
        return text + (f", channel_groups={self.channel_groups}" if self.channel_groups
                       else "")


# --------------------------------------------------------------------------- normalization
class _BatchNorm(Module):
    _input_ndim: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float = 0.1,
                 affine: bool = True, track_running_stats: bool = True):
        self.num_features = _positive("num_features", num_features)
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
        _check_features(type(self).__name__, x, 1, self.num_features, "channels")
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


# --------------------------------------------------------------------------- recurrent
class LSTMCell(Module):
    """One LSTM step, as torch.nn.LSTMCell (gates in the order i, f, g, o).

    Args:
        input_size: the size of x's last axis.
        hidden_size: H.
        bias: whether to add the two learned biases (kept apart, as PyTorch does, so that
            state dicts line up).

    Shapes:
        x (N, input_size), state None (zeros) or (h, c) each (N, H) -> (h, c) each (N, H);
        weight_ih (4H, input_size), weight_hh (4H, H), biases (4H,), all
        U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        self.input_size = _positive("input_size", input_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = _uniform_parameter((4 * hidden_size, input_size), bound)
        self.weight_hh = _uniform_parameter((4 * hidden_size, hidden_size), bound)
        self.bias_ih = _uniform_parameter((4 * hidden_size,), bound) if bias else None
        self.bias_hh = _uniform_parameter((4 * hidden_size,), bound) if bias else None

    def gates(self, x: Tensor, h: Tensor) -> Tensor:
        """The (N, 4H) gate pre-activations."""
        gates = x @ transpose(self.weight_ih) + h @ transpose(self.weight_hh)
        if self.bias_ih is not None:
            gates = gates + (self.bias_ih + self.bias_hh)
        return gates

    def forward(self, x: Tensor, state=None):
        _check_features("LSTMCell", x, -1, self.input_size, "features")
        if state is None:
            h = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
            c = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
        else:
            h, c = state
        return F.lstm_cell(self.gates(x, h), c)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


class LSTM(Module):
    """A (stack of) LSTM layer(s) over a sequence, like torch.nn.LSTM (unidirectional).

    Args:
        input_size, hidden_size, bias: as in LSTMCell.
        num_layers: stacked layers, each reading the previous one's outputs.
        batch_first: inputs and outputs are (N, T, ...) instead of (T, N, ...).

    Shapes:
        x (T, N, input_size), state None (zeros) or (h_0, c_0) each (num_layers, N, H) ->
        (output (T, N, H), (h_n, c_n) each (num_layers, N, H)); output holds the last
        layer's h at every step. Parameters are named as PyTorch's (weight_ih_l0, ...).
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False):
        self.input_size = _positive("input_size", input_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        self.num_layers = _positive("num_layers", num_layers)
        self.batch_first = batch_first
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", _uniform_parameter((4 * hidden_size, width),
                                                                      bound))
            setattr(self, f"weight_hh_l{layer}",
                    _uniform_parameter((4 * hidden_size, hidden_size), bound))
            if bias:
                setattr(self, f"bias_ih_l{layer}", _uniform_parameter((4 * hidden_size,),
                                                                        bound))
                setattr(self, f"bias_hh_l{layer}", _uniform_parameter((4 * hidden_size,),
                                                                        bound))
        self.bias = bias

    def forward(self, x: Tensor, state=None):
        if x.ndim != 3:
            raise ValueError(f"LSTM: expected a 3-D input, got shape {x.shape}")
        if self.batch_first:
            x = transpose(x, 0, 1)  # (N, T, in) -> (T, N, in)
        _check_features("LSTM", x, 2, self.input_size, "features")
        steps, batch = x.shape[0], x.shape[1]
        if state is not None:
            expected = (self.num_layers, batch, self.hidden_size)
            for label, tensor in zip(("h_0", "c_0"), state, strict=True):
                if tensor.shape != expected:
                    raise ValueError(f"LSTM: {label} must have shape {expected}, got "
                                     f"{tensor.shape}")
        h_last, c_last = [], []
        layer_input = x
        for layer in range(self.num_layers):
            w_ih = getattr(self, f"weight_ih_l{layer}")
            w_hh = getattr(self, f"weight_hh_l{layer}")
            # every step's input projection in one matmul: (T*N, in) @ (in, 4H)
            projected = reshape(layer_input, (steps * batch, -1)) @ transpose(w_ih)
            if self.bias:
                projected = projected + (getattr(self, f"bias_ih_l{layer}")
                                         + getattr(self, f"bias_hh_l{layer}"))
            # (T*N, 4H) -> T pieces of (N, 4H): one split, whose backward is one concatenate
            # (a getitem per step would scatter into a full (T*N, 4H) zero array each time)
            per_step = split(projected, batch, axis=0)
            if state is None:
                h = zeros(batch, self.hidden_size, dtype=x.dtype, device=x.device)
                c = zeros(batch, self.hidden_size, dtype=x.dtype, device=x.device)
            else:
                h, c = getitem(state[0], layer), getitem(state[1], layer)
            outputs = []
            for step in range(steps):
                h, c = F.lstm_cell(per_step[step] + h @ transpose(w_hh), c)
                outputs.append(h)
            layer_input = stack(outputs, axis=0)  # T x (N, H) -> (T, N, H)
            h_last.append(h)
            c_last.append(c)
        output = transpose(layer_input, 0, 1) if self.batch_first else layer_input
        return output, (stack(h_last, axis=0), stack(c_last, axis=0))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        return text + (", batch_first=True" if self.batch_first else "")


# --------------------------------------------------------------------------- others
class Dropout(Module):
    """Inverted dropout, active only in training mode: zero each element with probability
    ``p`` and scale the rest by 1 / (1 - p), so that eval mode is the identity.

    Shapes:
        the output has the input's shape.
    """

    def __init__(self, p: float = 0.5):
        if not 0.0 <= p < 1.0:
            raise ValueError(f"Dropout: p must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class Embedding(Module):
    """A lookup table of learned vectors, as torch.nn.Embedding.

    Shapes:
        integer indices (...) in [0, num_embeddings) -> (..., embedding_dim);
        weight (num_embeddings, embedding_dim), initialised N(0, 1).
    """

    def __init__(self, num_embeddings: int, embedding_dim: int):
        self.num_embeddings = _positive("num_embeddings", num_embeddings)
        self.embedding_dim = _positive("embedding_dim", embedding_dim)
        self.weight = init.normal_(Parameter(np.empty((num_embeddings, embedding_dim),
                                                      dtype=np.float32)))

    def forward(self, indices) -> Tensor:
        raw = indices.data if isinstance(indices, Tensor) else np.asarray(indices)
        if raw.dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got dtype {raw.dtype}")
        if raw.size and (raw.min() < 0 or raw.max() >= self.num_embeddings):
            raise ValueError(f"Embedding: indices must be in [0, {self.num_embeddings}), got "
                             f"range [{raw.min()}, {raw.max()}]")
        return getitem(self.weight, raw)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}"


class Flatten(Module):
    """Merge axes start_dim..end_dim (default: all but the batch axis), e.g.
    (N, C, H, W) -> (N, C*H*W)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x: Tensor) -> Tensor:
        return flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Split axis ``dim`` into ``sizes``: e.g. (N, 784) -> (N, 1, 28, 28)."""

    def __init__(self, dim: int, sizes: tuple):
        self.dim, self.sizes = dim, tuple(sizes)

    def forward(self, x: Tensor) -> Tensor:
        dim = self.dim % x.ndim
        if math.prod(self.sizes) != x.shape[dim]:
            raise ValueError(f"Unflatten: sizes {self.sizes} do not multiply to axis {dim}'s "
                             f"length {x.shape[dim]}")
        # (..., d, ...) -> (..., *sizes, ...)
        return reshape(x, x.shape[:dim] + self.sizes + x.shape[dim + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.sizes}"


class Identity(Module):
    """Returns its input unchanged (a placeholder, e.g. for an optional layer)."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class _Activation(Module):
    """An elementwise function without settings; the output has the input's shape."""

    function = None

    def forward(self, x: Tensor) -> Tensor:
        return type(self).function(x)


class ReLU(_Activation):
    """max(x, 0)."""

    function = staticmethod(F.relu)


class Sigmoid(_Activation):
    """1 / (1 + exp(-x))."""

    function = staticmethod(F.sigmoid)


class Tanh(_Activation):
    """tanh(x)."""

    function = staticmethod(F.tanh)


class Softplus(_Activation):
    """log(1 + exp(x)), a smooth ReLU."""

    function = staticmethod(F.softplus)


class LeakyReLU(Module):
    """x for x > 0, else negative_slope * x; the output has the input's shape."""

    def __init__(self, negative_slope: float = 0.01):
        self.negative_slope = negative_slope

    def forward(self, x: Tensor) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class ELU(Module):
    """x for x > 0, else alpha * (exp(x) - 1); the output has the input's shape."""

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(x, self.alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}"


__all__ = [
    "ELU", "LSTM", "BatchNorm1d", "BatchNorm2d", "Conv2d", "ConvTranspose2d", "Dropout",
    "Embedding", "Flatten", "Identity", "LSTMCell", "LeakyReLU", "Linear", "MaskedConv2d",
    "ReLU", "Sigmoid", "Softplus", "Tanh", "Unflatten",
]
