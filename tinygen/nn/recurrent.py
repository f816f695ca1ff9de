"""Recurrent layers: RNNCell, GRUCell and LSTMCell (one step), and RNN, GRU and LSTM (stacks
of layers over a sequence, optionally bidirectional), with PyTorch's gate orders, parameter
names, initialisation (every parameter U(-1/sqrt(H), 1/sqrt(H))), shapes and unbatched
inputs.

The steps are compositions of differentiable ops (linear, sigmoid, tanh), except the LSTM's,
which is the fused ``F.lstm_cell``. A sequence layer projects every step's input in one
matmul before the loop, so only the recurrent product runs per step; GRU and LSTM then run
each layer direction's loop as one op (ops/recurrent_sequence.py, the same steps on raw
arrays, with one weight-gradient GEMM over all steps).
"""

from __future__ import annotations

import math

import tinygen.nn.functional as F
from tinygen.autograd.creation import zeros
from tinygen.autograd.ops import (
    concatenate,
    getitem,
    reshape,
    split,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
from tinygen.autograd.ops.recurrent_sequence import gru_sequence, lstm_sequence
from tinygen.autograd.tensor import Tensor
from tinygen.nn import init
from tinygen.nn.checks import check_features, check_input, choice, count, flag, integer, number
from tinygen.nn.module import Module

_NONLINEARITIES = {"tanh": F.tanh, "relu": F.relu}


# --------------------------------------------------------------------------- one step
def _rnn_step(activation, projected, h, w_hh, b_hh):
    """h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh); ``projected`` holds the input half."""
    return activation(projected + F.linear(h, w_hh, b_hh))


def _gru_step(projected, h, w_hh, b_hh):
    """PyTorch's GRU, gates r, z, n:  r, z = sigmoid(x W_i{r,z}^T + b_i{r,z} + h W_h{r,z}^T
    + b_h{r,z});  n = tanh(x W_in^T + b_in + r * (h W_hn^T + b_hn));  h' = (1 - z) n + z h."""
    hidden = h.shape[-1]
    recurrent = F.linear(h, w_hh, b_hh)
    x_rz, x_n = split(projected, [2 * hidden, hidden], axis=-1)
    h_rz, h_n = split(recurrent, [2 * hidden, hidden], axis=-1)
    r, z = split(F.sigmoid(x_rz + h_rz), hidden, axis=-1)
    n = F.tanh(x_n + r * h_n)
    return n + z * (h - n)


def _lstm_step(projected, state, w_hh, b_hh):
    """PyTorch's LSTM, gates i, f, g, o: the fused cell on the summed pre-activations."""
    h, c = state
    return F.lstm_cell(projected + F.linear(h, w_hh, b_hh), c)


def _pair_of_states(layer: str, hx) -> tuple:
    """An LSTM's state (h, c) as a pair, (None, None) when not given."""
    if hx is None:
        return None, None
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        raise TypeError(f"{layer}: hx must be None or a pair (h, c) of Tensors, got "
                        f"{type(hx).__name__}")
    return tuple(hx)


# --------------------------------------------------------------------------- cells
class _Cell(Module):
    """A one-step cell: weight_ih (G H, input_size), weight_hh (G H, H), bias_ih and bias_hh
    (G H,) for G gate blocks, all U(-1/sqrt(H), 1/sqrt(H))."""

    gates = 1

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True):
        name = type(self).__name__
        self.input_size = count(name, "input_size", input_size)
        self.hidden_size = count(name, "hidden_size", hidden_size)
        bias = flag(name, "bias", bias)
        rows = self.gates * hidden_size
        bound = 1 / math.sqrt(hidden_size)
        self.weight_ih = init.uniform_parameter((rows, input_size), bound)
        self.weight_hh = init.uniform_parameter((rows, hidden_size), bound)
        self.bias_ih = init.uniform_parameter((rows,), bound) if bias else None
        self.bias_hh = init.uniform_parameter((rows,), bound) if bias else None

    def _batched(self, x: Tensor, states: tuple) -> tuple:
        """x as (N, input_size) and the states as (N, H), zeros when not given; and whether
        x came unbatched ((input_size,), states (H,))."""
        name = type(self).__name__
        check_input(name, x, (1, 2), like=self.weight_ih)
        check_features(name, x, -1, self.input_size, "features")
        unbatched = x.ndim == 1
        if unbatched:
            x = unsqueeze(x, 0)
        expected = (self.hidden_size,) if unbatched else (x.shape[0], self.hidden_size)
        filled = []
        for label, state in zip(("h", "c"), states):
            if state is None:
                state = zeros(x.shape[0], self.hidden_size, dtype=x.dtype, device=x.device)
                filled.append(state)
                continue
            check_input(name, state, like=self.weight_ih, name=label)
            if state.shape != expected:
                raise ValueError(f"{name}: {label} must have shape {expected}, got "
                                 f"{state.shape}")
            else:
                state = unsqueeze(state, 0) if unbatched else state
            filled.append(state)
        return x, tuple(filled), unbatched

    def _project(self, x: Tensor) -> Tensor:
        """x W_ih^T plus the biases that add to it before the step's nonlinearity."""
        bias = self.bias_ih
        if bias is not None and self.gates != 3:  # GRU keeps b_hn inside r * (...)
            bias = bias + self.bias_hh
        return F.linear(x, self.weight_ih, bias)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + (
            "" if self.bias_ih is not None else ", bias=False")


class RNNCell(_Cell):
    """One Elman RNN step, as torch.nn.RNNCell: h' = act(x W_ih^T + b_ih + h W_hh^T + b_hh).

    Args:
        input_size: the size of x's last axis.
        hidden_size: H.
        bias: whether to add the learned biases.
        nonlinearity: 'tanh' or 'relu'.

    Shapes:
        x (N, input_size) or (input_size,), hx None (zeros) or (N, H) / (H,) -> h' of hx's
        shape; weight_ih (H, input_size), weight_hh (H, H), biases (H,).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True,
                 nonlinearity: str = "tanh"):
        choice("RNNCell", "nonlinearity", nonlinearity, tuple(_NONLINEARITIES))
        super().__init__(input_size, hidden_size, bias)
        self.nonlinearity = nonlinearity

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._batched(input, (hx,))
        h = _rnn_step(_NONLINEARITIES[self.nonlinearity], self._project(x), h, self.weight_hh,
                      None)
        return squeeze(h, 0) if unbatched else h

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", nonlinearity={self.nonlinearity!r}"
                                       if self.nonlinearity != "tanh" else "")


class GRUCell(_Cell):
    """One GRU step, as torch.nn.GRUCell (gates r, z, n; see :func:`_gru_step`).

    Shapes:
        x (N, input_size) or (input_size,), hx None (zeros) or (N, H) / (H,) -> h' of hx's
        shape; weight_ih (3H, input_size), weight_hh (3H, H), biases (3H,).
    """

    gates = 3

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, (h,), unbatched = self._batched(input, (hx,))
        h = _gru_step(self._project(x), h, self.weight_hh, self.bias_hh)
        return squeeze(h, 0) if unbatched else h


class LSTMCell(_Cell):
    """One LSTM step, as torch.nn.LSTMCell (gates in the order i, f, g, o).

    Args:
        input_size: the size of x's last axis.
        hidden_size: H.
        bias: whether to add the two learned biases (kept apart, as PyTorch does, so that
            state dicts line up).

    Shapes:
        x (N, input_size) or (input_size,), hx None (zeros) or (h, c) each (N, H) / (H,) ->
        (h, c) of that shape; weight_ih (4H, input_size), weight_hh (4H, H), biases (4H,).
    """

    gates = 4

    def forward(self, input: Tensor, hx=None):
        x, (h, c), unbatched = self._batched(input, _pair_of_states("LSTMCell", hx))
        h, c = _lstm_step(self._project(x), (h, c), self.weight_hh, None)
        return (squeeze(h, 0), squeeze(c, 0)) if unbatched else (h, c)


# --------------------------------------------------------------------------- sequences
class _Recurrent(Module):
    """A stack of recurrent layers over a sequence, as PyTorch's RNN, GRU and LSTM.

    Layer k reads layer k-1's outputs (both directions' side by side); parameters are
    weight_ih_l{k}, weight_hh_l{k}, bias_ih_l{k}, bias_hh_l{k}, and the reverse direction's
    the same with a ``_reverse`` suffix, in PyTorch's order.
    """

    gates = 1
    states = 1  # tensors in the state: h, or (h, c)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False):
        name = type(self).__name__
        self.input_size = count(name, "input_size", input_size)
        self.hidden_size = count(name, "hidden_size", hidden_size)
        self.num_layers = count(name, "num_layers", num_layers)
        self.dropout = float(number(name, "dropout", dropout, 0.0, 1.0))
        self.bias = flag(name, "bias", bias)
        self.batch_first = flag(name, "batch_first", batch_first)
        self.bidirectional = flag(name, "bidirectional", bidirectional)
        rows, bound = self.gates * hidden_size, 1 / math.sqrt(hidden_size)
        for layer in range(num_layers):
            width = input_size if layer == 0 else hidden_size * self.directions
            for suffix in self._suffixes():
                setattr(self, f"weight_ih_l{layer}{suffix}",
                        init.uniform_parameter((rows, width), bound))
                setattr(self, f"weight_hh_l{layer}{suffix}",
                        init.uniform_parameter((rows, hidden_size), bound))
                if bias:
                    setattr(self, f"bias_ih_l{layer}{suffix}",
                            init.uniform_parameter((rows,), bound))
                    setattr(self, f"bias_hh_l{layer}{suffix}",
                            init.uniform_parameter((rows,), bound))

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _suffixes(self) -> tuple:
        return ("", "_reverse") if self.bidirectional else ("",)

    def _initial_states(self, hx, batch: int, unbatched: bool, x: Tensor) -> list:
        """One state per (layer, direction), as (N, H) tensors (tuples of them for LSTM)."""
        name = type(self).__name__
        layers = self.num_layers * self.directions
        if hx is None:
            blank = [zeros(batch, self.hidden_size, dtype=x.dtype, device=x.device)
                     for _ in range(self.states)]
            return [blank[0] if self.states == 1 else tuple(blank)] * layers
        given = (hx,) if self.states == 1 else _pair_of_states(name, hx)
        expected = (layers, self.hidden_size) if unbatched else (
            layers, batch, self.hidden_size)
        for label, tensor in zip(("h_0", "c_0"), given):
            check_input(name, tensor, like=x, name=label)
            if tensor.shape != expected:
                raise ValueError(f"{name}: {label} must have shape {expected}, got "
                                 f"{tensor.shape}")
        if unbatched:  # (layers, H) -> (layers, 1, H)
            given = tuple(unsqueeze(tensor, 1) for tensor in given)
        per_layer = [tuple(getitem(tensor, index) for tensor in given)
                     for index in range(layers)]
        return [state[0] if self.states == 1 else state for state in per_layer]

    def _direction(self, x: Tensor, layer: int, suffix: str, state, reverse: bool):
        """One layer, one direction over (T, N, in): its (T, N, H) outputs and last state."""
        steps, batch = x.shape[0], x.shape[1]
        w_ih = getattr(self, f"weight_ih_l{layer}{suffix}")
        w_hh = getattr(self, f"weight_hh_l{layer}{suffix}")
        b_ih = getattr(self, f"bias_ih_l{layer}{suffix}") if self.bias else None
        b_hh = getattr(self, f"bias_hh_l{layer}{suffix}") if self.bias else None
        if b_ih is not None and self.gates != 3:  # GRU keeps b_hn inside r * (...)
            b_ih, b_hh = b_ih + b_hh, None
        # every step's input projection in one matmul: (T*N, in) @ (in, G H)
        projected = F.linear(reshape(x, (steps * batch, x.shape[2])), w_ih, b_ih)
        return self._run(projected, steps, batch, state, w_hh, b_hh, reverse)

    def _run(self, projected, steps: int, batch: int, state, w_hh, b_hh, reverse: bool):
        """The steps over the projected inputs (T*N, G H), each composed from differentiable
        ops: the (T, N, H) outputs and the last state."""
        # (T*N, G H) -> T pieces of (N, G H): one split, whose backward is one concatenate
        # (a getitem per step would scatter into a full (T*N, G H) zero array each time)
        per_step = split(projected, [batch] * steps, axis=0)  # sizes: an empty batch too
        outputs = [None] * steps
        for step in (reversed(range(steps)) if reverse else range(steps)):
            state = self._step(per_step[step], state, w_hh, b_hh)
            outputs[step] = state if self.states == 1 else state[0]
        return stack(outputs, axis=0), state  # T x (N, H) -> (T, N, H)

    def forward(self, input: Tensor, hx=None):
        name = type(self).__name__
        check_input(name, input, (2, 3), like=self.weight_ih_l0)
        unbatched = input.ndim == 2
        x = unsqueeze(input, 1) if unbatched else input  # (T, in) -> (T, 1, in)
        if self.batch_first and not unbatched:
            x = transpose(x, 0, 1)  # (N, T, in) -> (T, N, in)
        check_features(name, x, 2, self.input_size, "features")
        if x.shape[0] == 0:
            raise ValueError(f"{name}: expected a sequence of at least one step, got input "
                             f"shape {input.shape}")
        states = self._initial_states(hx, x.shape[1], unbatched, x)
        finals = []
        for layer in range(self.num_layers):
            if layer and self.dropout and self.training:  # between layers, not after the last
                x = F.dropout(x, self.dropout, True)
            outputs = []
            for direction, suffix in enumerate(self._suffixes()):
                out, final = self._direction(x, layer, suffix, states[layer * self.directions
                                                                      + direction],
                                             reverse=direction == 1)
                outputs.append(out)
                finals.append(final)
            # (T, N, H) per direction -> (T, N, D H)
            x = outputs[0] if len(outputs) == 1 else concatenate(outputs, axis=2)
        if self.batch_first and not unbatched:
            x = transpose(x, 0, 1)  # (T, N, D H) -> (N, T, D H)
        last = [stack([f if self.states == 1 else f[i] for f in finals], axis=0)
                for i in range(self.states)]  # each (layers * D, N, H)
        if unbatched:
            x, last = squeeze(x, 1), [squeeze(t, 1) for t in last]
        return x, (last[0] if self.states == 1 else tuple(last))

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        if self.num_layers != 1:
            text += f", num_layers={self.num_layers}"
        if not self.bias:
            text += ", bias=False"
        if self.batch_first:
            text += ", batch_first=True"
        if self.dropout:
            text += f", dropout={self.dropout}"
        return text + (", bidirectional=True" if self.bidirectional else "")


class RNN(_Recurrent):
    """A stack of Elman RNN layers, as torch.nn.RNN.

    Args:
        input_size, hidden_size: the feature sizes of x and of h.
        num_layers: stacked layers, each reading the previous one's outputs.
        nonlinearity: 'tanh' or 'relu'.
        bias: whether to add the learned biases.
        batch_first: inputs and outputs are (N, T, ...) instead of (T, N, ...).
        dropout: dropout on each layer's outputs but the last's, in training.
        bidirectional: also run each layer backwards in time, the outputs side by side.

    Shapes:
        x (T, N, input_size) (or (T, input_size) unbatched), h_0 None (zeros) or
        (D num_layers, N, H) -> (output (T, N, D H), h_n (D num_layers, N, H)), D = 2 if
        bidirectional else 1; output holds the last layer's h at every step.
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 nonlinearity: str = "tanh", bias: bool = True, batch_first: bool = False,
                 dropout: float = 0.0, bidirectional: bool = False):
        choice("RNN", "nonlinearity", nonlinearity, tuple(_NONLINEARITIES))
        self.nonlinearity = nonlinearity
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)

    def _step(self, projected, h, w_hh, b_hh):
        return _rnn_step(_NONLINEARITIES[self.nonlinearity], projected, h, w_hh, b_hh)


class GRU(_Recurrent):
    """A stack of GRU layers, as torch.nn.GRU (gates r, z, n; see :func:`_gru_step`).

    Args:
        as RNN's, without the nonlinearity.

    Shapes:
        as RNN's; weight_ih_l{k} (3H, in), weight_hh_l{k} (3H, H), biases (3H,).
    """

    gates = 3

    def _run(self, projected, steps: int, batch: int, state, w_hh, b_hh, reverse: bool):
        # the whole direction as one op (ops/recurrent_sequence.py), the steps of _gru_step
        if b_hh is None:
            b_hh = w_hh.new_zeros((w_hh.shape[0],))
        # (T*N, 3H) -> (T, N, 3H)
        return gru_sequence(reshape(projected, (steps, batch, w_hh.shape[0])), state, w_hh,
                            b_hh, reverse=reverse)


class LSTM(_Recurrent):
    """A stack of LSTM layers, as torch.nn.LSTM (gates i, f, g, o).

    Args:
        as RNN's, without the nonlinearity; proj_size must be 0 (projections are not
        implemented).

    Shapes:
        x (T, N, input_size) (or (T, input_size)), state None (zeros) or (h_0, c_0) each
        (D num_layers, N, H) -> (output (T, N, D H), (h_n, c_n) each (D num_layers, N, H));
        weight_ih_l{k} (4H, in), weight_hh_l{k} (4H, H), biases (4H,).
    """

    gates = 4
    states = 2

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1,
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0,
                 bidirectional: bool = False, proj_size: int = 0):
        if integer("LSTM", "proj_size", proj_size) != 0:
            raise NotImplementedError(f"LSTM: proj_size must be 0 (projections are not "
                                      f"implemented), got {proj_size!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional)

    def _run(self, projected, steps: int, batch: int, state, w_hh, b_hh, reverse: bool):
        # the whole direction as one op (ops/recurrent_sequence.py), the steps of _lstm_step;
        # b_hh is None here: _direction folded it into the input projection's bias
        h0, c0 = state
        # (T*N, 4H) -> (T, N, 4H)
        out, h, c = lstm_sequence(reshape(projected, (steps, batch, w_hh.shape[0])), h0, c0,
                                  w_hh, reverse=reverse)
        return out, (h, c)
