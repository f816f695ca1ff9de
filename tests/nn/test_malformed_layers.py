"""Every public layer refuses malformed arguments and inputs with a named tinygen error.

For each layer the table below holds one valid constructor call and one valid input. A
Hypothesis test draws one corruption per example: a constructor argument replaced by a bad
value (wrong type, zero, negative, NaN, inf, a tuple of the wrong length, an unknown string),
or one input replaced by a bad one (not a Tensor, a wrong ndim, a wrong feature count, an
integer or float64 dtype, an empty batch, NaN values). The call passes if it returns, or if it
raises TypeError/ValueError/IndexError/RuntimeError from an explicit ``raise`` in the tinygen
package whose message names the layer class or the functional op it calls: no NumPy- or
Python-internal exception may escape (the judge is ``tinygen.testing.malformed``'s
``internal_escape``, the one the functional ops' test uses).
"""

from __future__ import annotations

import inspect
import math
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen.nn as nn
from tinygen.autograd.tensor import Tensor
from tinygen.testing.malformed import internal_escape


# --------------------------------------------------------------------------- the table
def _x(*shape, dtype=np.float32, seed=0) -> Tensor:
    return Tensor(np.random.default_rng(seed).standard_normal(shape).astype(dtype))


def _uniform(*shape, low=0.05, high=0.95) -> Tensor:
    return Tensor(np.random.default_rng(1).uniform(low, high, shape).astype(np.float32))


def _signs(*shape) -> Tensor:
    return Tensor(np.where(np.random.default_rng(2).random(shape) < 0.5, -1.0, 1.0)
                  .astype(np.float32))


def _classes(n: int, classes: int) -> Tensor:
    return Tensor(np.arange(n, dtype=np.int64) % classes)


def _pooled(layer, shape) -> tuple:
    values, indices = layer(_x(*shape))
    return values, indices


class Entry:
    """One layer: a valid constructor call (``args``, ``kwargs``), a factory of one valid
    input tuple, and the functional ops it calls (whose names its errors may carry)."""

    def __init__(self, layer: str, kwargs: dict, inputs, ops=(), args=()):
        self.layer, self.kwargs, self.inputs, self.args = layer, kwargs, inputs, args
        self.names = (layer, *ops)

    def __repr__(self) -> str:
        return self.layer


def _loss(layer, ops, inputs, **kwargs):
    defaults = {"reduction": "mean"}
    if "size_average" in inspect.signature(getattr(nn, layer)).parameters:
        defaults.update(size_average=None, reduce=None)
    return Entry(layer, {**defaults, **kwargs}, inputs, ops)


_CONV = {"stride": 1, "padding": 0, "dilation": 1, "groups": 2, "bias": True,
         "padding_mode": "zeros"}
_NORM = {"eps": 1e-5, "momentum": 0.1, "bias": True}
_RECURRENT = {"input_size": 3, "hidden_size": 4, "num_layers": 1, "bias": True,
              "batch_first": False, "dropout": 0.0, "bidirectional": False}

TABLE = [
    Entry("AdaptiveAvgPool1d", {"output_size": 2}, lambda: (_x(2, 3, 5),),
          ("adaptive_avg_pool1d",)),
    Entry("AdaptiveAvgPool2d", {"output_size": (2, 2)}, lambda: (_x(2, 3, 5, 5),),
          ("adaptive_avg_pool2d",)),
    Entry("AdaptiveMaxPool1d", {"output_size": 2, "return_indices": False},
          lambda: (_x(2, 3, 5),), ("adaptive_max_pool1d",)),
    Entry("AdaptiveMaxPool2d", {"output_size": (2, 2), "return_indices": False},
          lambda: (_x(2, 3, 5, 5),), ("adaptive_max_pool2d",)),
    Entry("AvgPool1d", {"kernel_size": 2, "stride": None, "padding": 0, "ceil_mode": False,
                        "count_include_pad": True}, lambda: (_x(2, 3, 6),), ("avg_pool1d",)),
    Entry("AvgPool2d", {"kernel_size": 2, "stride": None, "padding": 0, "ceil_mode": False,
                        "count_include_pad": True, "divisor_override": None},
          lambda: (_x(2, 3, 6, 6),), ("avg_pool2d",)),
    Entry("BatchNorm1d", {"num_features": 3, **_NORM, "affine": True,
                          "track_running_stats": True}, lambda: (_x(4, 3),), ("batch_norm",)),
    Entry("BatchNorm2d", {"num_features": 3, **_NORM, "affine": True,
                          "track_running_stats": True}, lambda: (_x(4, 3, 2, 2),),
          ("batch_norm",)),
    _loss("BCELoss", ("binary_cross_entropy",), lambda: (_uniform(4, 3), _uniform(4, 3)),
          weight=None),
    _loss("BCEWithLogitsLoss", ("binary_cross_entropy_with_logits",),
          lambda: (_x(4, 3), _uniform(4, 3)), weight=None, pos_weight=None),
    Entry("CELU", {"alpha": 1.0, "inplace": False}, lambda: (_x(2, 3),), ("celu",)),
    Entry("Conv1d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, **_CONV},
          lambda: (_x(2, 2, 7),), ("conv1d",)),
    Entry("Conv2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3, **_CONV},
          lambda: (_x(2, 2, 6, 6),), ("conv2d",)),
    Entry("ConvTranspose1d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3,
                              "output_padding": 0, **_CONV},
          lambda: (_x(2, 2, 5),), ("conv_transpose1d",)),
    Entry("ConvTranspose2d", {"in_channels": 2, "out_channels": 4, "kernel_size": 3,
                              "output_padding": 0, **_CONV},
          lambda: (_x(2, 2, 4, 4),), ("conv_transpose2d",)),
    _loss("CrossEntropyLoss", ("cross_entropy", "nll_loss", "log_softmax"),
          lambda: (_x(4, 3), _classes(4, 3)), weight=None, ignore_index=-100,
          label_smoothing=0.0),
    Entry("DiagonalBiLSTM", {"in_channels": 2, "hidden_size": 3}, lambda: (_x(1, 2, 3, 3),)),
    Entry("DiagonalLSTM", {"in_channels": 2, "hidden_size": 3}, lambda: (_x(1, 2, 3, 3),)),
    Entry("Dropout", {"p": 0.5, "inplace": False}, lambda: (_x(2, 3),), ("dropout",)),
    Entry("Dropout1d", {"p": 0.5, "inplace": False}, lambda: (_x(2, 3, 4),), ("dropout1d",)),
    Entry("Dropout2d", {"p": 0.5, "inplace": False}, lambda: (_x(2, 3, 4, 4),),
          ("dropout2d",)),
    Entry("ELU", {"alpha": 1.0, "inplace": False}, lambda: (_x(2, 3),), ("elu",)),
    Entry("Embedding", {"num_embeddings": 5, "embedding_dim": 3},
          lambda: (_classes(6, 5).reshape(2, 3),), ("embedding",)),
    Entry("Flatten", {"start_dim": 1, "end_dim": -1}, lambda: (_x(2, 3, 4),), ("flatten",)),
    _loss("GaussianNLLLoss", ("gaussian_nll_loss",),
          lambda: (_x(4, 3), _x(4, 3, seed=1), _uniform(4, 3)), full=False, eps=1e-6),
    Entry("GELU", {"approximate": "none"}, lambda: (_x(2, 3),), ("gelu",)),
    Entry("GLU", {"dim": -1}, lambda: (_x(2, 4),), ("glu",)),
    Entry("GroupNorm", {"num_groups": 2, "num_channels": 4, "eps": 1e-5, "affine": True,
                        "bias": True}, lambda: (_x(2, 4, 3),), ("group_norm",)),
    Entry("GRU", _RECURRENT, lambda: (_x(5, 2, 3), _x(1, 2, 4, seed=1))),
    Entry("GRUCell", {"input_size": 3, "hidden_size": 4, "bias": True},
          lambda: (_x(2, 3), _x(2, 4, seed=1))),
    Entry("Hardsigmoid", {"inplace": False}, lambda: (_x(2, 3),), ("hardsigmoid",)),
    Entry("Hardtanh", {"min_val": -1.0, "max_val": 1.0, "inplace": False},
          lambda: (_x(2, 3),), ("hardtanh",)),
    _loss("HingeEmbeddingLoss", ("hinge_embedding_loss",), lambda: (_x(4, 3), _signs(4, 3)),
          margin=1.0),
    _loss("HuberLoss", ("huber_loss",), lambda: (_x(4, 3), _x(4, 3, seed=1)), delta=1.0),
    Entry("Identity", {}, lambda: (_x(2, 3),)),
    Entry("InstanceNorm1d", {"num_features": 3, **_NORM, "affine": True,
                             "track_running_stats": False}, lambda: (_x(2, 3, 5),),
          ("instance_norm",)),
    Entry("InstanceNorm2d", {"num_features": 3, **_NORM, "affine": True,
                             "track_running_stats": False}, lambda: (_x(2, 3, 4, 4),),
          ("instance_norm",)),
    _loss("KLDivLoss", ("kl_div",), lambda: (_x(4, 3), _uniform(4, 3)),
          reduction="batchmean", log_target=False),
    _loss("L1Loss", ("l1_loss",), lambda: (_x(4, 3), _x(4, 3, seed=1))),
    Entry("LayerNorm", {"normalized_shape": (4,), "eps": 1e-5, "elementwise_affine": True,
                        "bias": True}, lambda: (_x(2, 3, 4),), ("layer_norm",)),
    Entry("LeakyReLU", {"negative_slope": 0.01, "inplace": False}, lambda: (_x(2, 3),),
          ("leaky_relu",)),
    Entry("Linear", {"in_features": 3, "out_features": 2, "bias": True},
          lambda: (_x(4, 3),), ("linear",)),
    Entry("LogSigmoid", {}, lambda: (_x(2, 3),), ("logsigmoid", "log_sigmoid")),
    Entry("LogSoftmax", {"dim": 1}, lambda: (_x(2, 3),), ("log_softmax",)),
    Entry("LSTM", _RECURRENT, lambda: (_x(5, 2, 3), (_x(1, 2, 4, seed=1), _x(1, 2, 4, seed=2)))),
    Entry("LSTMCell", {"input_size": 3, "hidden_size": 4, "bias": True},
          lambda: (_x(2, 3), (_x(2, 4, seed=1), _x(2, 4, seed=2)))),
    _loss("MarginRankingLoss", ("margin_ranking_loss",),
          lambda: (_x(4), _x(4, seed=1), _signs(4)), margin=0.0),
    Entry("MaskedConv2d", {"in_channels": 3, "out_channels": 6, "kernel_size": 3,
                           "mask_type": "B", "stride": 1, "padding": None, "dilation": 1,
                           "bias": True, "channel_groups": 3},
          lambda: (_x(2, 3, 5, 5),), ("conv2d", "conv_mask")),
    Entry("MaxPool1d", {"kernel_size": 2, "stride": None, "padding": 0, "dilation": 1,
                        "return_indices": False, "ceil_mode": False},
          lambda: (_x(2, 3, 6),), ("max_pool1d",)),
    Entry("MaxPool2d", {"kernel_size": 2, "stride": None, "padding": 0, "dilation": 1,
                        "return_indices": False, "ceil_mode": False},
          lambda: (_x(2, 3, 6, 6),), ("max_pool2d",)),
    Entry("MaxUnpool1d", {"kernel_size": 2, "stride": None, "padding": 0},
          lambda: _pooled(nn.MaxPool1d(2, return_indices=True), (2, 3, 6)), ("max_unpool1d",)),
    Entry("MaxUnpool2d", {"kernel_size": 2, "stride": None, "padding": 0},
          lambda: _pooled(nn.MaxPool2d(2, return_indices=True), (2, 3, 6, 6)),
          ("max_unpool2d",)),
    Entry("Mish", {"inplace": False}, lambda: (_x(2, 3),), ("mish",)),
    Entry("ModuleDict", {"modules": {"a": nn.Linear(3, 2)}}, lambda: (_x(2, 3),)),
    Entry("ModuleList", {"modules": [nn.Linear(3, 2)]}, lambda: (_x(2, 3),)),
    _loss("MSELoss", ("mse_loss",), lambda: (_x(4, 3), _x(4, 3, seed=1))),
    _loss("NLLLoss", ("nll_loss",), lambda: (_x(4, 3), _classes(4, 3)), weight=None,
          ignore_index=-100),
    Entry("ParameterDict", {"parameters": {"a": nn.Parameter(np.ones(2, np.float32))}},
          lambda: (_x(2, 3),)),
    Entry("ParameterList", {"values": [nn.Parameter(np.ones(2, np.float32))]},
          lambda: (_x(2, 3),)),
    Entry("PixelShuffle", {"upscale_factor": 2}, lambda: (_x(1, 8, 2, 2),), ("pixel_shuffle",)),
    Entry("PixelUnshuffle", {"downscale_factor": 2}, lambda: (_x(1, 2, 4, 4),),
          ("pixel_unshuffle",)),
    _loss("PoissonNLLLoss", ("poisson_nll_loss",), lambda: (_x(4, 3), _uniform(4, 3)),
          log_input=True, full=False, eps=1e-8),
    Entry("PReLU", {"num_parameters": 3, "init": 0.25}, lambda: (_x(2, 3, 4),), ("prelu",)),
    Entry("ReLU", {"inplace": False}, lambda: (_x(2, 3),), ("relu",)),
    Entry("ReLU6", {"inplace": False}, lambda: (_x(2, 3),), ("relu6",)),
    Entry("RNN", {**_RECURRENT, "nonlinearity": "tanh"},
          lambda: (_x(5, 2, 3), _x(1, 2, 4, seed=1))),
    Entry("RNNCell", {"input_size": 3, "hidden_size": 4, "bias": True, "nonlinearity": "tanh"},
          lambda: (_x(2, 3), _x(2, 4, seed=1))),
    Entry("RowLSTM", {"in_channels": 2, "hidden_size": 3, "kernel_size": 3},
          lambda: (_x(1, 2, 3, 3),)),
    Entry("SELU", {"inplace": False}, lambda: (_x(2, 3),), ("selu",)),
    Entry("Sequential", {}, lambda: (_x(2, 3),), ("Linear", "ReLU"),
          args=(nn.Linear(3, 2), nn.ReLU())),
    Entry("Sigmoid", {}, lambda: (_x(2, 3),), ("sigmoid",)),
    Entry("SiLU", {"inplace": False}, lambda: (_x(2, 3),), ("silu",)),
    _loss("SmoothL1Loss", ("smooth_l1_loss",), lambda: (_x(4, 3), _x(4, 3, seed=1)), beta=1.0),
    _loss("SoftMarginLoss", ("soft_margin_loss",), lambda: (_x(4, 3), _signs(4, 3))),
    Entry("Softmax", {"dim": 1}, lambda: (_x(2, 3),), ("softmax",)),
    Entry("Softplus", {"beta": 1.0, "threshold": 20.0}, lambda: (_x(2, 3),), ("softplus",)),
    Entry("Softsign", {}, lambda: (_x(2, 3),), ("softsign",)),
    Entry("Tanh", {}, lambda: (_x(2, 3),), ("tanh",)),
    Entry("Unflatten", {"dim": 1, "sizes": (2, 3)}, lambda: (_x(2, 6),)),
    Entry("Upsample", {"size": None, "scale_factor": 2, "mode": "nearest",
                       "align_corners": None, "recompute_scale_factor": None},
          lambda: (_x(1, 2, 3, 3),), ("interpolate",)),
]
BY_NAME = {entry.layer: entry for entry in TABLE}


def test_every_public_layer_is_in_the_table():
    public = {name for name in nn.__all__ if isinstance(getattr(nn, name), type)
              and issubclass(getattr(nn, name), nn.Module) and getattr(nn, name) is not nn.Module}
    assert set(BY_NAME) == public


@pytest.mark.parametrize("entry", TABLE, ids=repr)
def test_every_table_entry_runs_as_given(entry):
    layer = getattr(nn, entry.layer)(*entry.args, **entry.kwargs)
    if entry.layer in ("ModuleDict", "ModuleList", "ParameterDict", "ParameterList"):
        return  # containers without a forward of their own
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layer(*entry.inputs())


# --------------------------------------------------------------------------- corruptions
BAD_VALUES = ("x", "", None, 1.5, -2.5, True, False, 0, -1, 3, 7, math.nan, math.inf,
              -math.inf, (), (1, 2, 3), (2, "a"), [0.5], {"a": 1}, object())


def _bad_inputs(valid: Tensor) -> list:
    """Malformed replacements of one valid input Tensor, each paired with a label."""
    raw = valid.data
    shape = raw.shape
    bad = [("an ndarray", raw.copy()), ("a list", raw.tolist()), ("None", None),
           ("a string", "x"), ("a float", 1.5), ("0-d", Tensor(np.float32(1.0))),
           ("an extra axis", Tensor(raw[None])), ("int64", Tensor(raw.astype(np.int64))),
           ("bool", Tensor(raw > 0)), ("float64", Tensor(raw.astype(np.float64)))]
    if raw.dtype.kind == "f":
        bad += [("NaN-filled", Tensor(np.full(shape, np.nan, raw.dtype))),
                ("inf-filled", Tensor(np.full(shape, np.inf, raw.dtype)))]
    if raw.ndim:
        bad += [("a lost axis", Tensor(raw[0])),
                ("an empty batch", Tensor(np.zeros((0, *shape[1:]), raw.dtype))),
                ("an empty last axis", Tensor(np.zeros((*shape[:-1], 0), raw.dtype))),
                ("a longer last axis", Tensor(np.concatenate([raw, raw], axis=-1)))]
    if raw.ndim > 1:
        bad += [("more channels", Tensor(np.concatenate([raw, raw], axis=1))),
                ("one channel", Tensor(raw[:, :1])),
                ("a shorter batch", Tensor(raw[:1]))]
    return bad


def _replace_input(inputs: tuple, position: tuple, value) -> tuple:
    """``inputs`` with the entry at ``position`` (a path into nested tuples) replaced."""
    head, *rest = position
    item = value if not rest else _replace_input(inputs[head], tuple(rest), value)
    return inputs[:head] + (item,) + inputs[head + 1:]


def _tensor_positions(inputs, prefix=()) -> list:
    positions = []
    for index, item in enumerate(inputs):
        if isinstance(item, Tensor):
            positions.append((*prefix, index))
        elif isinstance(item, tuple):
            positions.extend(_tensor_positions(item, (*prefix, index)))
    return positions


def _at(inputs, position):
    for index in position:
        inputs = inputs[index]
    return inputs


def run_corrupted(entry: Entry, argument: str | None, value, position, bad) -> None:
    """Build the layer (``argument`` replaced by ``value``) and call it (the input at
    ``position`` replaced by ``bad``); fail on an internal escape."""
    kwargs = dict(entry.kwargs)
    if argument is not None:
        kwargs[argument] = value
    inputs = entry.inputs()
    if position is not None:
        inputs = _replace_input(inputs, position, bad)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layer = getattr(nn, entry.layer)(*entry.args, **kwargs)
            layer(*inputs)
    except Exception as error:  # noqa: BLE001 - the classifier judges every exception
        reason = internal_escape(error, entry.names)
        if reason is not None:
            raise AssertionError(f"{entry.layer}: {reason}: {type(error).__name__}: "
                                 f"{error}") from error


@st.composite
def corruptions(draw, entry: Entry):
    """One corruption of ``entry``: (argument, value, input position, bad input)."""
    positions = _tensor_positions(entry.inputs())
    if entry.kwargs and (not positions or draw(st.booleans())):
        argument = draw(st.sampled_from(sorted(entry.kwargs)))
        return argument, draw(st.sampled_from(BAD_VALUES)), None, None
    position = draw(st.sampled_from(positions))
    _, bad = draw(st.sampled_from(_bad_inputs(_at(entry.inputs(), position))))
    return None, None, position, bad


@pytest.mark.parametrize("entry", TABLE, ids=repr)
@given(data=st.data())
def test_layer_refuses_malformed_arguments_and_inputs_by_name(entry, data):
    argument, value, position, bad = data.draw(corruptions(entry))
    run_corrupted(entry, argument, value, position, bad)


# --------------------------------------------------------------------------- one test per fix
def _float64(*shape) -> Tensor:
    return _x(*shape, dtype=np.float64)


def _pair_state() -> tuple:
    return _x(2, 4), _x(2, 4)


#: (id, call, error type, message pattern): each call escaped, or raised an error that did
#: not name the layer, before the fix it stands for.
FIXES = [
    ("linear-in_features-type", lambda: nn.Linear("3", 2), TypeError,
     r"Linear: in_features must be an int, got str '3'"),
    ("linear-bias-type", lambda: nn.Linear(3, 2, bias="yes"), TypeError,
     r"Linear: bias must be a bool"),
    ("linear-ndarray-input", lambda: nn.Linear(3, 2)(np.zeros((2, 3), np.float32)), TypeError,
     r"Linear: input must be a Tensor, got ndarray"),
    ("linear-float64-input", lambda: nn.Linear(3, 2)(_float64(2, 3)), TypeError,
     r"Linear: expected input of dtype float32 .* got float64"),
    ("dropout-int-input", lambda: nn.Dropout()(Tensor(np.ones((2, 3), np.int64))), TypeError,
     r"Dropout: expected a floating-point input, got dtype int64"),
    ("dropout-inplace-type", lambda: nn.Dropout(0.5, inplace="no"), TypeError,
     r"Dropout: inplace must be a bool"),
    ("embedding-size-type", lambda: nn.Embedding("5", 3), TypeError,
     r"Embedding: num_embeddings must be an int"),
    ("flatten-list-input", lambda: nn.Flatten()([[1.0, 2.0]]), TypeError,
     r"Flatten: input must be a Tensor, got list"),
    ("flatten-dim-type", lambda: nn.Flatten(start_dim="1"), TypeError,
     r"Flatten: start_dim must be an int"),
    ("unflatten-sizes-type", lambda: nn.Unflatten(1, "23"), TypeError,
     r"Unflatten: sizes must be a non-empty tuple of ints"),
    ("unflatten-dim-range", lambda: nn.Unflatten(5, (2, 3))(_x(2, 6)), IndexError,
     r"Unflatten: dim must be an int in \[-2, 1\], got 5"),
    ("relu-ndarray-input", lambda: nn.ReLU()(np.zeros(3)), TypeError,
     r"ReLU: input must be a Tensor, got ndarray"),
    ("sigmoid-bool-input", lambda: nn.Sigmoid()(Tensor(np.ones(3, bool))), TypeError,
     r"Sigmoid: expected a floating-point input, got dtype bool"),
    ("softplus-beta-type", lambda: nn.Softplus(beta="1"), TypeError,
     r"Softplus: beta must be a number, got str '1'"),
    ("softplus-beta-zero", lambda: nn.Softplus(beta=0), ValueError,
     r"Softplus: beta must be nonzero"),
    ("leaky-relu-slope-type", lambda: nn.LeakyReLU("0.1"), TypeError,
     r"LeakyReLU: negative_slope must be a number"),
    ("elu-alpha-type", lambda: nn.ELU(alpha=(1,)), TypeError, r"ELU: alpha must be a number"),
    ("celu-alpha-zero", lambda: nn.CELU(alpha=0.0), ValueError, r"CELU: alpha must be nonzero"),
    ("hardtanh-bound-type", lambda: nn.Hardtanh(min_val="-1"), TypeError,
     r"Hardtanh: min_val must be a number"),
    ("prelu-init-type", lambda: nn.PReLU(init="0.25"), TypeError, r"PReLU: init must be a number"),
    ("prelu-channels", lambda: nn.PReLU(3)(_x(2, 4)), ValueError,
     r"PReLU: expected an input with 3 channels on axis 1"),
    ("glu-odd-axis", lambda: nn.GLU()(_x(2, 3)), ValueError,
     r"GLU: the halved axis 1 must have an even length"),
    ("softmax-dim-type", lambda: nn.Softmax(dim="1"), TypeError, r"Softmax: dim must be an int"),
    ("softmax-dim-range", lambda: nn.LogSoftmax(dim=2)(_x(2, 3)), IndexError,
     r"LogSoftmax: dim must be an int in \[-2, 1\], got 2"),
    ("conv-channels-type", lambda: nn.Conv2d("2", 4, 3), TypeError,
     r"Conv2d: in_channels must be an int"),
    ("conv-groups-named", lambda: nn.Conv1d(2, 4, 3, groups=3), ValueError,
     r"Conv1d: groups=3 must divide in_channels=2"),
    ("conv-kernel-length", lambda: nn.Conv2d(2, 4, (3, 3, 3)), ValueError,
     r"Conv2d: kernel_size must have 2 entries, got \(3, 3, 3\)"),
    ("conv-stride-type", lambda: nn.Conv1d(2, 4, 3, stride=1.5), TypeError,
     r"Conv1d: stride must be an int or a tuple of 1 ints, got float 1.5"),
    ("conv-input-channels", lambda: nn.Conv2d(2, 4, 3)(_x(1, 3, 5, 5)), ValueError,
     r"Conv2d: expected 2 input channels on axis 1, got shape \(1, 3, 5, 5\)"),
    ("conv-float64-input", lambda: nn.Conv1d(2, 4, 3)(_float64(1, 2, 5)), TypeError,
     r"Conv1d: expected input of dtype float32 .* got float64"),
    ("conv-transpose-output-size-type",
     lambda: nn.ConvTranspose2d(2, 4, 3)(_x(1, 2, 4, 4), output_size=(6.0, 6.0)), ValueError,
     r"ConvTranspose2d: output_size must have 2 entries"),
    ("masked-conv-even-kernel", lambda: nn.MaskedConv2d(1, 2, 4), ValueError,
     r"MaskedConv2d: kernel_size must be odd \(a causal mask needs a centre pixel\), got 4"),
    ("masked-conv-zero-groups", lambda: nn.MaskedConv2d(3, 6, 3, channel_groups=0), ValueError,
     r"MaskedConv2d: channel_groups must be a positive int, got 0"),
    ("masked-conv-type-named", lambda: nn.MaskedConv2d(1, 2, 3, mask_type=1), TypeError,
     r"MaskedConv2d: mask_type must be 'A' or 'B', got int 1"),
    ("maxpool-kernel-named", lambda: nn.MaxPool2d("2"), TypeError,
     r"MaxPool2d: kernel_size must be an int or a tuple of 2 ints"),
    ("maxpool-ceil-mode-type", lambda: nn.MaxPool1d(2, ceil_mode="no"), TypeError,
     r"MaxPool1d: ceil_mode must be a bool"),
    ("pool-empty-spatial", lambda: nn.AvgPool1d(2)(_x(2, 3, 0)), ValueError,
     r"AvgPool1d: expected non-empty channel and spatial axes, got shape \(2, 3, 0\)"),
    ("avgpool-zero-divisor", lambda: nn.AvgPool2d(2, divisor_override=0), ValueError,
     r"AvgPool2d: divisor_override must be None or a nonzero int, got 0"),
    ("adaptive-size-named", lambda: nn.AdaptiveAvgPool1d(0), ValueError,
     r"AdaptiveAvgPool1d: output_size must be a positive int, got 0"),
    ("unpool-kernel-named", lambda: nn.MaxUnpool1d(1.5), TypeError,
     r"MaxUnpool1d: kernel_size must be an int"),
    ("upsample-scale-type", lambda: nn.Upsample(scale_factor="2"), TypeError,
     r"Upsample: scale_factor must be a number, got str '2'"),
    ("upsample-mode-type", lambda: nn.Upsample(scale_factor=2, mode=["nearest"]), TypeError,
     r"Upsample: mode must be 'nearest', .* got list"),
    ("pixel-shuffle-named", lambda: nn.PixelShuffle(0), ValueError,
     r"PixelShuffle: upscale_factor must be a positive int, got 0"),
    ("norm-eps-type", lambda: nn.BatchNorm1d(3, eps="1e-5"), TypeError,
     r"BatchNorm1d: eps must be a number"),
    ("norm-momentum-type", lambda: nn.InstanceNorm1d(3, momentum="0.1"), TypeError,
     r"InstanceNorm1d: momentum must be a number"),
    ("norm-features-named", lambda: nn.BatchNorm2d(0), ValueError,
     r"BatchNorm2d: num_features must be a positive int, got 0"),
    ("batchnorm-float64-input", lambda: nn.BatchNorm1d(3)(_float64(4, 3)), TypeError,
     r"BatchNorm1d: expected input of dtype float32 .* got float64"),
    ("instancenorm-float64-input",
     lambda: nn.InstanceNorm1d(3, affine=True)(_float64(2, 3, 5)), TypeError,
     r"InstanceNorm1d: expected input of dtype float32 .* got float64"),
    ("layernorm-shape-type", lambda: nn.LayerNorm(1.5), TypeError,
     r"LayerNorm: normalized_shape must be an int or a tuple of 1 ints, got float 1.5"),
    ("layernorm-trailing-shape", lambda: nn.LayerNorm(4)(_x(2, 3)), ValueError,
     r"LayerNorm: expected an input whose trailing shape is normalized_shape \(4,\)"),
    ("groupnorm-eps-type", lambda: nn.GroupNorm(2, 4, eps=None), TypeError,
     r"GroupNorm: eps must be a number"),
    ("rnn-size-named", lambda: nn.GRU(3, 0), ValueError,
     r"GRU: hidden_size must be a positive int, got 0"),
    ("rnn-flag-type", lambda: nn.LSTM(3, 4, batch_first="yes"), TypeError,
     r"LSTM: batch_first must be a bool"),
    ("rnn-state-type", lambda: nn.RNN(3, 4)(_x(5, 2, 3), np.zeros((1, 2, 4))), TypeError,
     r"RNN: h_0 must be a Tensor, got ndarray"),
    ("lstm-state-pair", lambda: nn.LSTM(3, 4)(_x(5, 2, 3), _x(1, 2, 4)), TypeError,
     r"LSTM: hx must be None or a pair \(h, c\) of Tensors, got Tensor"),
    ("lstm-cell-state-pair", lambda: nn.LSTMCell(3, 4)(_x(2, 3), _pair_state()[0]), TypeError,
     r"LSTMCell: hx must be None or a pair \(h, c\) of Tensors"),
    ("rnn-empty-sequence", lambda: nn.GRU(3, 4)(_x(0, 2, 3)), ValueError,
     r"GRU: expected a sequence of at least one step"),
    ("rnn-float64-input", lambda: nn.RNNCell(3, 4)(_float64(2, 3)), TypeError,
     r"RNNCell: expected input of dtype float32 .* got float64"),
    ("lstm-proj-size-type", lambda: nn.LSTM(3, 4, proj_size="0"), TypeError,
     r"LSTM: proj_size must be an int"),
    ("pixelrnn-size-named", lambda: nn.RowLSTM(0, 3), ValueError,
     r"RowLSTM: in_channels must be a positive int, got 0"),
    ("pixelrnn-float64-input", lambda: nn.DiagonalLSTM(2, 3)(_float64(1, 2, 3, 3)), TypeError,
     r"DiagonalLSTM: expected input of dtype float32 .* got float64"),
    ("pixelrnn-empty-batch", lambda: nn.RowLSTM(2, 3)(_x(0, 2, 3, 3)), ValueError,
     r"RowLSTM: expected a non-empty \(N, 2, H, W\) input, got shape \(0, 2, 3, 3\)"),
    ("loss-reduction-at-construction", lambda: nn.MSELoss(reduction="avg"), ValueError,
     r"MSELoss: reduction must be 'mean', 'sum' or 'none', got 'avg'"),
    ("loss-weight-type", lambda: nn.NLLLoss(weight="x"), TypeError,
     r"NLLLoss: weight must be a floating Tensor or None"),
    ("loss-smoothing-type", lambda: nn.CrossEntropyLoss(label_smoothing=None), TypeError,
     r"CrossEntropyLoss: label_smoothing must be a number"),
    ("loss-beta-type", lambda: nn.SmoothL1Loss(beta="1"), TypeError,
     r"SmoothL1Loss: beta must be a number"),
    ("loss-margin-type", lambda: nn.MarginRankingLoss(margin=None), TypeError,
     r"MarginRankingLoss: margin must be a number"),
    ("loss-legacy-flag-type", lambda: nn.L1Loss(size_average="yes"), TypeError,
     r"L1Loss: size_average must be a bool"),
    ("loss-operand-shapes", lambda: nn.PoissonNLLLoss()(_x(4, 3), _x(4, 6)), ValueError,
     r"PoissonNLLLoss: expected operands that broadcast to the input's shape \(4, 3\), got "
     r"shape \(4, 6\)"),
    ("container-not-iterable", lambda: nn.ModuleList(3), TypeError,
     r"ModuleList: expected an iterable of members, got int"),
    ("container-not-pairs", lambda: nn.ModuleDict([1, 2]), TypeError,
     r"ModuleDict: expected a mapping or \(str key, value\) pairs"),
    ("container-key-type", lambda: nn.ParameterDict([(1, nn.Parameter(np.ones(1)))]),
     TypeError, r"ParameterDict: expected a mapping or \(str key, value\) pairs"),
]


@pytest.mark.parametrize(("call", "error", "pattern"),
                         [pytest.param(*fix[1:], id=fix[0]) for fix in FIXES])
def test_each_fixed_escape_raises_its_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


def test_identity_takes_and_ignores_any_arguments_as_pytorch():
    x = _x(2, 3)
    assert nn.Identity(54, unused="argument")(x) is x


def test_unflatten_infers_one_minus_one_size_as_pytorch():
    assert nn.Unflatten(1, (2, -1))(_x(2, 6)).shape == (2, 2, 3)


@pytest.mark.parametrize("layer", [nn.RNN(3, 4), nn.GRU(3, 4), nn.LSTM(3, 4)])
def test_recurrent_layer_takes_an_empty_batch(layer):
    output, state = layer(_x(5, 1, 3)[:, :0])
    h = state[0] if isinstance(state, tuple) else state
    assert output.shape == (5, 0, 4) and h.shape == (1, 0, 4)  # as PyTorch


@pytest.mark.gpu
def test_layer_refuses_an_input_on_another_device_by_name():
    layer = nn.Linear(3, 2)
    with pytest.raises(RuntimeError, match=r"Linear: expected input on cpu .* got one on cuda"):
        layer(_x(2, 3).to("cuda"))


def test_max_pool_layers_take_integer_maps_as_pytorch():
    x = Tensor(np.arange(32, dtype=np.int64).reshape(1, 2, 4, 4))
    values, indices = nn.MaxPool2d(2, return_indices=True)(x)
    assert values.dtype == np.int64 and values.numpy().max() == 31
    assert nn.MaxUnpool2d(2)(values, indices).dtype == np.int64


# --------------------------------------------------------------------------- nn.init
def _weight() -> nn.Parameter:
    return nn.Parameter(np.zeros((4, 3), np.float32))


#: Every public initialiser: (name, a valid call's keyword arguments, as a factory).
INIT_TABLE = {
    "calculate_gain": lambda: {"nonlinearity": "leaky_relu", "param": 0.2},
    "fan_in_and_fan_out": lambda: {"tensor": _weight()},
    "uniform_": lambda: {"tensor": _weight(), "a": -1.0, "b": 1.0},
    "normal_": lambda: {"tensor": _weight(), "mean": 0.0, "std": 1.0},
    "constant_": lambda: {"tensor": _weight(), "value": 0.5},
    "zeros_": lambda: {"tensor": _weight()},
    "ones_": lambda: {"tensor": _weight()},
    "xavier_uniform_": lambda: {"tensor": _weight(), "gain": 1.0},
    "xavier_normal_": lambda: {"tensor": _weight(), "gain": 1.0},
    "kaiming_uniform_": lambda: {"tensor": _weight(), "a": 0.0, "mode": "fan_in",
                                 "nonlinearity": "leaky_relu"},
    "kaiming_normal_": lambda: {"tensor": _weight(), "a": 0.0, "mode": "fan_out",
                                "nonlinearity": "relu"},
    "orthogonal_": lambda: {"tensor": _weight(), "gain": 1.0},
    "uniform_parameter": lambda: {"shape": (4, 3), "bound": 0.5},
}
BAD_TENSORS = (np.zeros(3, np.int64), Tensor(np.zeros(3, np.int64)), Tensor(np.zeros(3)),
               Tensor(np.zeros(())), [[0.0]])


def test_every_public_initialiser_is_in_the_table():
    public = {name for name, value in vars(nn.init).items() if callable(value)
              and not name.startswith("_") and getattr(value, "__module__", "") ==
              nn.init.__name__}
    assert set(INIT_TABLE) == public


@pytest.mark.parametrize("name", sorted(INIT_TABLE))
@given(choice=st.data())
def test_initialiser_refuses_malformed_arguments_by_name(name, choice):
    kwargs = INIT_TABLE[name]()
    getattr(nn.init, name)(**kwargs)  # the valid call runs
    argument = choice.draw(st.sampled_from(sorted(kwargs)))
    kwargs[argument] = choice.draw(st.sampled_from(
        BAD_VALUES + (BAD_TENSORS if argument == "tensor" else ())))
    try:
        getattr(nn.init, name)(**kwargs)
    except Exception as error:  # noqa: BLE001 - the classifier judges every exception
        reason = internal_escape(error, (name,))
        assert reason is None, f"{name}({argument}={kwargs[argument]!r}): {reason}"


INIT_FIXES = [
    ("init-tensor-type", lambda: nn.init.normal_(None), TypeError,
     r"normal_: tensor must be a Tensor \(or its raw array\), got NoneType"),
    ("init-integer-tensor", lambda: nn.init.uniform_(Tensor(np.zeros(3, np.int64))), TypeError,
     r"uniform_: tensor must be floating, got dtype int64"),
    ("init-std-negative", lambda: nn.init.normal_(_weight(), std=-1.0), ValueError,
     r"normal_: std must be >= 0, got -1.0"),
    ("init-bounds-order", lambda: nn.init.uniform_(_weight(), 1.0, -1.0), ValueError,
     r"uniform_: expected a <= b, got a=1.0, b=-1.0"),
    ("init-fans-named", lambda: nn.init.xavier_uniform_(Tensor(np.zeros(3, np.float32))),
     ValueError, r"xavier_uniform_: needs a tensor with at least 2 axes"),
    ("init-mode-named", lambda: nn.init.kaiming_normal_(_weight(), mode="fan"), ValueError,
     r"kaiming_normal_: mode must be 'fan_in' or 'fan_out', got 'fan'"),
    ("init-nonlinearity-named", lambda: nn.init.kaiming_uniform_(_weight(), nonlinearity=3),
     TypeError, r"kaiming_uniform_: nonlinearity must be .* got int 3"),
    ("init-gain-type", lambda: nn.init.orthogonal_(_weight(), gain="1"), TypeError,
     r"orthogonal_: gain must be a number"),
    ("init-value-type", lambda: nn.init.constant_(_weight(), None), TypeError,
     r"constant_: value must be a number"),
]


@pytest.mark.parametrize(("call", "error", "pattern"),
                         [pytest.param(*fix[1:], id=fix[0]) for fix in INIT_FIXES])
def test_each_fixed_initialiser_escape_raises_its_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()


# --------------------------------------------------------------------------- Module's methods
def _linear() -> nn.Linear:
    return nn.Linear(3, 2)


#: Module's public methods: (method, the argument corrupted, a call taking the bad value).
MODULE_CALLS = {
    "register_buffer:name": lambda v: _linear().register_buffer(v, Tensor(np.zeros(2))),
    "register_buffer:tensor": lambda v: _linear().register_buffer("b", v),
    "register_buffer:persistent": lambda v: _linear().register_buffer("b", None, v),
    "register_parameter:name": lambda v: _linear().register_parameter(
        v, nn.Parameter(np.zeros(2))),
    "register_parameter:param": lambda v: _linear().register_parameter("q", v),
    "add_module:name": lambda v: _linear().add_module(v, nn.ReLU()),
    "add_module:module": lambda v: _linear().add_module("r", v),
    "apply:fn": lambda v: _linear().apply(v),
    "train:mode": lambda v: _linear().train(v),
    "requires_grad_:requires_grad": lambda v: _linear().requires_grad_(v),
    "zero_grad:set_to_none": lambda v: _linear().zero_grad(v),
    "to:args": lambda v: _linear().to(v),
    "to:dtype": lambda v: _linear().to(dtype=v),
    "to:device": lambda v: _linear().to(device=v),
    "cuda:device": lambda v: _linear().cuda(v),
    "state_dict:prefix": lambda v: _linear().state_dict(prefix=v),
    "state_dict:destination": lambda v: _linear().state_dict(destination=v),
    "load_state_dict:state_dict": lambda v: _linear().load_state_dict(v),
    "load_state_dict:value": lambda v: _linear().load_state_dict(
        {"weight": v, "bias": np.zeros(2, np.float32)}),
    "load_state_dict:strict": lambda v: _linear().load_state_dict(_linear().state_dict(), v),
    "named_parameters:prefix": lambda v: list(_linear().named_parameters(prefix=v)),
    "named_modules:prefix": lambda v: list(_linear().named_modules(prefix=v)),
    "parameters:recurse": lambda v: list(_linear().parameters(v)),
    "buffers:recurse": lambda v: list(_linear().buffers(v)),
}
BAD_MEMBERS = (np.zeros(3), Tensor(np.zeros(3)), "cuda", "a.b")


@pytest.mark.parametrize("call", sorted(MODULE_CALLS))
@given(choice=st.data())
def test_module_methods_refuse_malformed_arguments_by_name(call, choice):
    method = call.split(":")[0]
    value = choice.draw(st.sampled_from(BAD_VALUES + BAD_MEMBERS))
    try:
        MODULE_CALLS[call](value)
    except KeyError as error:  # PyTorch's error for a bad member name: kept, by name
        assert str(error).strip("'\"").startswith(method), error
    except Exception as error:  # noqa: BLE001 - the classifier judges every exception
        reason = internal_escape(error, (method, "Linear"))
        assert reason is None, f"{call}({value!r}): {reason}"


MODULE_FIXES = [
    ("module-persistent-type", lambda: _linear().register_buffer("b", None, "no"), TypeError,
     r"register_buffer: persistent must be a bool"),
    ("module-apply-callable", lambda: _linear().apply(3), TypeError,
     r"Linear.apply: fn must be callable, got int"),
    ("module-requires-grad-type", lambda: _linear().requires_grad_(np.zeros(3)), TypeError,
     r"Linear.requires_grad_: requires_grad must be a bool"),
    ("module-zero-grad-type", lambda: _linear().zero_grad(Tensor(np.zeros(3))), TypeError,
     r"Linear.zero_grad: set_to_none must be a bool"),
    ("module-to-not-a-dtype", lambda: _linear().to(1.5), TypeError,
     r"Linear.to: expected a device, a floating dtype or a Tensor, got 1.5"),
    ("module-to-device-named", lambda: _linear().to(device="tpu"), RuntimeError,
     r"Linear.to: device must be one of"),
    ("module-cuda-type", lambda: _linear().cuda(1.5), TypeError,
     r"Linear.cuda: device must be None, an int or a str, got 1.5"),
    ("module-state-dict-prefix", lambda: _linear().state_dict(prefix=None), TypeError,
     r"Linear.state_dict: prefix must be a str, got NoneType"),
    ("module-load-not-mapping", lambda: _linear().load_state_dict("x"), TypeError,
     r"Linear.load_state_dict: state_dict must be a mapping of name -> array, got str"),
    ("module-load-strict-type",
     lambda: _linear().load_state_dict(_linear().state_dict(), strict=np.zeros(3)), TypeError,
     r"Linear.load_state_dict: strict must be a bool"),
    ("module-walk-recurse-type", lambda: list(_linear().parameters(np.zeros(3))), TypeError,
     r"Linear.named_parameters: recurse must be a bool"),
]


@pytest.mark.parametrize(("call", "error", "pattern"),
                         [pytest.param(*fix[1:], id=fix[0]) for fix in MODULE_FIXES])
def test_each_fixed_module_escape_raises_its_named_error(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call()
