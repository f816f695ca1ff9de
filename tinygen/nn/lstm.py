"""Recurrent layers: LSTMCell (one step) and LSTM (a stack of layers over a sequence), with
PyTorch's gate order, parameter names and initialisation."""

from __future__ import annotations

import math

import tinygen.nn.functional as F
from tinygen.autograd.creation import zeros
from tinygen.autograd.ops import getitem, reshape, split, stack, transpose
from tinygen.autograd.ops.arguments import positive
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.checks import check_features
from tinygen.nn.module import Module


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
        self.input_size = positive("input_size", input_size)
        self.hidden_size = positive("hidden_size", hidden_size)
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = init.uniform_parameter((4 * hidden_size, input_size), bound)
        self.weight_hh = init.uniform_parameter((4 * hidden_size, hidden_size), bound)
        self.bias_ih = init.uniform_parameter((4 * hidden_size,), bound) if bias else None
        self.bias_hh = init.uniform_parameter((4 * hidden_size,), bound) if bias else None

    def gates(self, x: Tensor, h: Tensor) -> Tensor:
        """The (N, 4H) gate pre-activations."""
        gates = x @ transpose(self.weight_ih) + h @ transpose(self.weight_hh)
        if self.bias_ih is not None:
            gates = gates + (self.bias_ih + self.bias_hh)
        return gates

    def forward(self, x: Tensor, state=None):
        check_features("LSTMCell", x, -1, self.input_size, "features")
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
        self.input_size = positive("input_size", input_size)
        self.hidden_size = positive("hidden_size", hidden_size)
        self.num_layers = positive("num_layers", num_layers)
        self.batch_first = batch_first
        bound = 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size
            setattr(self, f"weight_ih_l{layer}", init.uniform_parameter((4 * hidden_size, width),
                                                                      bound))
            setattr(self, f"weight_hh_l{layer}",
                    init.uniform_parameter((4 * hidden_size, hidden_size), bound))
            if bias:
                setattr(self, f"bias_ih_l{layer}", init.uniform_parameter((4 * hidden_size,),
                                                                        bound))
                setattr(self, f"bias_hh_l{layer}", init.uniform_parameter((4 * hidden_size,),
                                                                        bound))
        self.bias = bias

    def forward(self, x: Tensor, state=None):
        if x.ndim != 3:
            raise ValueError(f"LSTM: expected a 3-D input, got shape {x.shape}")
        if self.batch_first:
            x = transpose(x, 0, 1)  # (N, T, in) -> (T, N, in)
        check_features("LSTM", x, 2, self.input_size, "features")
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
