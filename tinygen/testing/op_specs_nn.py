"""Specs for the kernel ops behind ``tinygen.nn.functional``: the dense layer, batch norm,
the LSTM cell, losses, pooling, upsampling and dropout (convolutions register in
``op_specs_conv``)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd.ops import dropout as dropout_ops
from tinygen.autograd.ops import linalg, loss, normalization, pooling, recurrent
from tinygen.backend import manual_seed
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, distinct_arrays, floats

REAL = floats()
PROBABILITY = floats(0.05, 0.95)


def _images(min_side: int = 2, max_side: int = 5) -> st.SearchStrategy:
    """(N, C, H, W) shapes, batch 1 included, odd sizes included."""
    return st.tuples(st.integers(1, 2), st.integers(1, 3), st.integers(min_side, max_side),
                     st.integers(min_side, max_side))


def _logsumexp(z, axis):
    top = z.max(axis=axis, keepdims=True)
    return np.log(np.exp(z - top).sum(axis=axis, keepdims=True)) + top


# --------------------------------------------------------------------------- linear
@st.composite
def _linear_inputs(draw):
    """x (..., in) with none to two leading axes, W (out, in), and a bias (out,) or none."""
    leading = draw(st.lists(st.integers(1, 3), max_size=2))
    in_features, out_features = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    drawn = [draw(arrays((*leading, in_features))), draw(arrays((out_features, in_features)))]
    if draw(st.booleans()):
        drawn.append(draw(arrays((out_features,))))
    return tuple(drawn)


def _linear_reference(x, weight, bias=None):
    y = x @ weight.T
    return y if bias is None else y + bias


register(OpSpec("linear", linalg.linear, _linear_reference, _linear_inputs()))


# --------------------------------------------------------------------------- batch norm
def _bn_reference(x, weight=None, bias=None, **_):
    axes = (0,) if x.ndim == 2 else (0, 2, 3)
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    x_hat = (x - x.mean(axis=axes, keepdims=True)) / np.sqrt(
        x.var(axis=axes, keepdims=True) + 1e-5)
    return x_hat if weight is None else x_hat * weight.reshape(shape) + bias.reshape(shape)


def _bn_inputs(affine: bool) -> st.SearchStrategy:
    shape = st.one_of(st.tuples(st.integers(2, 5), st.integers(1, 3)), _images())

    def build(x_shape):
        # distinct entries keep the batch variance well away from zero
        x = distinct_arrays(shape=st.just(x_shape), gap=0.3)
        if not affine:
            return st.tuples(x)
        channels = x_shape[1]
        return st.tuples(x, arrays((channels,), elements=floats(0.5, 2.0)),
                         arrays((channels,), elements=REAL))

    return shape.flatmap(build)


register(OpSpec(
    "batch_norm_train", normalization.batch_norm, _bn_reference, _bn_inputs(affine=True),
    call=lambda x, w, b: normalization.batch_norm(x, None, None, w, b, training=True),
))
register(OpSpec(
    "batch_norm_train_no_affine", normalization.batch_norm, _bn_reference,
    _bn_inputs(affine=False),
    call=lambda x: normalization.batch_norm(x, None, None, training=True),
))


def _bn_one_param_reference(x, param, which):
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    x_hat = _bn_reference(x)
    return x_hat * param.reshape(shape) if which == "weight" else x_hat + param.reshape(shape)


register(OpSpec(
    "batch_norm_train_one_param", normalization.batch_norm, _bn_one_param_reference,
    _bn_inputs(affine=True).map(lambda drawn: drawn[:2]),
    kwargs=st.fixed_dictionaries({"which": st.sampled_from(["weight", "bias"])}),
    call=lambda x, param, which: normalization.batch_norm(x, None, None, training=True,
                                                          **{which: param}),
))


def _bn_eval_reference(x, weight, bias, running_mean, running_var):
    shape = (1, -1) if x.ndim == 2 else (1, -1, 1, 1)
    x_hat = (x - running_mean.reshape(shape)) / np.sqrt(running_var.reshape(shape) + 1e-5)
    return x_hat * weight.reshape(shape) + bias.reshape(shape)


register(OpSpec(
    "batch_norm_eval", normalization.batch_norm, _bn_eval_reference, _bn_inputs(affine=True),
    kwargs=lambda arrays_: st.fixed_dictionaries({
        "running_mean": arrays((arrays_[1].shape[0],), elements=REAL),
        "running_var": arrays((arrays_[1].shape[0],), elements=floats(0.2, 2.0)),
    }),
    call=lambda x, w, b, running_mean, running_var: normalization.batch_norm(
        x, running_mean.copy(), running_var.copy(), w, b, training=False),
))


# --------------------------------------------------------------------------- LSTM cell
def _lstm_reference(x_gates, c_prev):
    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    a_i, a_f, a_g, a_o = np.split(x_gates, 4, axis=1)
    c = sigmoid(a_f) * c_prev + sigmoid(a_i) * np.tanh(a_g)
    return sigmoid(a_o) * np.tanh(c), c


def _lstm_inputs():
    return st.tuples(st.integers(1, 3), st.integers(1, 4)).flatmap(
        lambda nh: st.tuples(arrays((nh[0], 4 * nh[1]), elements=REAL),
                             arrays((nh[0], nh[1]), elements=REAL)))


register(OpSpec("lstm_cell", recurrent.lstm_cell, _lstm_reference, _lstm_inputs()))


# --------------------------------------------------------------------------- Row LSTM row conv
def _row_conv_reference(x, kernel, addend, left):
    width, channels = x.shape[-2:]
    taps = kernel.shape[0] // channels
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(left, taps - 1 - left), (0, 0)])
    neighbours = np.concatenate([padded[..., tap:tap + width, :] for tap in range(taps)],
                                axis=-1)
    return addend + neighbours.reshape(-1, taps * channels) @ kernel


def _row_conv_inputs():
    # (rows, width, channels, features, taps, full addend or a bias)
    sizes = st.tuples(st.integers(1, 2), st.integers(1, 4), st.integers(1, 2),
                      st.integers(1, 3), st.integers(1, 3), st.booleans())
    return sizes.flatmap(lambda s: st.tuples(
        arrays(s[:3], elements=REAL), arrays((s[4] * s[2], s[3]), elements=REAL),
        arrays((s[0] * s[1], s[3]) if s[5] else (s[3],), elements=REAL)))


register(OpSpec(
    "row_conv", recurrent.row_conv, _row_conv_reference, _row_conv_inputs(),
    kwargs=lambda arrays_: st.fixed_dictionaries({
        "left": st.integers(0, arrays_[1].shape[0] // arrays_[0].shape[-1] - 1)}),
))


# --------------------------------------------------------------------------- losses
REDUCTION = st.fixed_dictionaries({"reduction": st.sampled_from(["mean", "sum", "none"])})


def _reduce(values, reduction):
    return {"mean": np.mean, "sum": np.sum, "none": lambda v: v}[reduction](values)


def _per_sample(values, reduction):
    per_sample = values.reshape(values.shape[0], -1).sum(axis=1)
    return _reduce(per_sample, reduction)


def _same_shape_pair(first, second, min_dims=1):
    return st.lists(st.integers(1, 4), min_size=min_dims, max_size=3).map(tuple).flatmap(
        lambda shape: st.tuples(arrays(shape, elements=first), arrays(shape, elements=second)))


def _bce_reference(logits, target, reduction):
    return _reduce(np.logaddexp(0, logits) - target * logits, reduction)


register(OpSpec(
    "binary_cross_entropy_with_logits", loss.binary_cross_entropy_with_logits, _bce_reference,
    _same_shape_pair(REAL, PROBABILITY), kwargs=REDUCTION,
))


def _ce_inputs():
    def build(shape):
        classes = shape[1]
        target_shape = (shape[0],) + shape[2:]
        return st.tuples(arrays(shape, elements=REAL),
                         arrays(target_shape, dtype=np.int64,
                                elements=st.integers(0, classes - 1)))

    shape = st.one_of(st.tuples(st.integers(1, 4), st.integers(1, 5)),
                      st.tuples(st.integers(1, 2), st.integers(2, 4), st.integers(1, 3)))
    return shape.flatmap(build)


def _ce_reference(logits, target, reduction):
    log_probs = logits - _logsumexp(logits, axis=1)
    picked = np.take_along_axis(log_probs, target[:, None, ...], axis=1)[:, 0]
    return _reduce(-picked, reduction)


register(OpSpec("cross_entropy", loss.cross_entropy, _ce_reference, _ce_inputs(),
                kwargs=REDUCTION))
register(OpSpec(
    "mse_loss", loss.mse_loss,
    lambda prediction, target, reduction: _reduce((prediction - target) ** 2, reduction),
    _same_shape_pair(REAL, REAL), kwargs=REDUCTION,
))
register(OpSpec(
    "gaussian_kl", loss.gaussian_kl,
    lambda mu, logvar, reduction: _per_sample(
        -0.5 * (1 + logvar - mu ** 2 - np.exp(logvar)), reduction),
    _same_shape_pair(REAL, REAL), kwargs=REDUCTION,
))


def _gaussian_nll_reference(x, mu, logvar, reduction):
    per_element = 0.5 * (np.log(2 * np.pi) + logvar + (x - mu) ** 2 * np.exp(-logvar))
    return _per_sample(per_element, reduction)


register(OpSpec(
    "gaussian_nll", loss.gaussian_nll, _gaussian_nll_reference,
    st.lists(st.integers(1, 4), min_size=1, max_size=3).map(tuple).flatmap(
        lambda shape: st.tuples(*(arrays(shape, elements=REAL) for _ in range(3)))),
    kwargs=REDUCTION,
))
register(OpSpec(
    "bernoulli_nll", loss.bernoulli_nll,
    lambda logits, x, reduction: _per_sample(np.logaddexp(0, logits) - x * logits, reduction),
    _same_shape_pair(REAL, PROBABILITY), kwargs=REDUCTION,
))


# --------------------------------------------------------------------------- pooling
def _pool_kwargs(arrays_):
    """(h, w) pairs drawn per axis, so a kernel, stride or padding whose two sides differ
    (where a swapped or shared side would hide) is drawn as often as a square one."""
    height, width = arrays_[0].shape[2:]
    kernel = st.tuples(st.integers(1, min(3, height)), st.integers(1, min(3, width)))
    return kernel.flatmap(lambda k: st.fixed_dictionaries({
        "kernel_size": st.just(k),
        "stride": st.tuples(st.integers(1, 3), st.integers(1, 3)),
        "padding": st.tuples(st.integers(0, k[0] // 2), st.integers(0, k[1] // 2)),
    }))


def _windows_reference(x, kernel_size, stride, padding, pad_value, reduce):
    n, c, h, w = x.shape
    (kh, kw), (sh, sw), (ph, pw) = kernel_size, stride, padding
    padded = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)), constant_values=pad_value)
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    out = np.empty((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = padded[:, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
            out[:, :, i, j] = reduce(window, axis=(2, 3))
    return out


register(OpSpec(
    "max_pool2d", pooling.max_pool2d,
    lambda x, **kw: _windows_reference(x, pad_value=-np.inf, reduce=np.max, **kw),
    st.tuples(distinct_arrays(shape=_images())), kwargs=_pool_kwargs,
))
register(OpSpec(
    "avg_pool2d", pooling.avg_pool2d,
    lambda x, **kw: _windows_reference(x, pad_value=0.0, reduce=np.mean, **kw),
    st.tuples(arrays(_images(), elements=REAL)), kwargs=_pool_kwargs,
))
register(OpSpec(
    "upsample_nearest2d", pooling.upsample_nearest2d,
    lambda x, scale_factor: x.repeat(scale_factor, axis=2).repeat(scale_factor, axis=3),
    st.tuples(arrays(_images(1, 3), elements=REAL)),
    kwargs=st.fixed_dictionaries({"scale_factor": st.integers(1, 3)}),
))


# --------------------------------------------------------------------------- dropout
def _seeded_dropout(x, p):
    # the same mask on every call: gradcheck evaluates the op many times
    manual_seed(1234)
    return dropout_ops.dropout(x, p, training=True)


def _dropout_reference(x, p):
    keep = np.random.default_rng(1234).random(x.shape) >= p
    return x * keep / (1 - p)


register(OpSpec(
    "dropout", dropout_ops.dropout, _dropout_reference, st.tuples(arrays(elements=REAL)),
    kwargs=st.fixed_dictionaries({"p": st.sampled_from([0.0, 0.25, 0.5])}),
    call=_seeded_dropout,
))
