"""Specs for the activations, the math functions and the normalizations added for PyTorch
parity: gelu ... glu, log1p ... clamp with tensor bounds, layer/group/instance norm,
F.normalize and batch norm on (N, C, L) and (N, C, D, H, W) inputs.

References are written from the definitions with NumPy and ``math`` (erf through
``math.erf``, entry by entry), never from the ops' own code. Inputs stay away from each op's
kinks and jumps (the kink conventions are tested against PyTorch in
tests/parity/test_math_parity.py), so every op here is checked to second order.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd import ops
from tinygen.autograd.ops import normalization
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import (
    arrays,
    away_from_kinks,
    broadcastable_shapes,
    distinct_arrays,
    floats,
    separated_floats,
    shapes,
)

REAL = floats()
WIDE = floats(-5.0, 5.0)
POSITIVE = floats(0.1, 3.0)
OFF_ZERO = away_from_kinks((0.0,), margin=0.1)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def unary(elements=REAL, shape=None) -> st.SearchStrategy:
    return st.tuples(arrays(shapes() if shape is None else shape, elements=elements))


def broadcasting(*elements) -> st.SearchStrategy:
    """One array per element strategy, of mutually broadcastable shapes."""
    return broadcastable_shapes(len(elements)).flatmap(lambda drawn: st.tuples(
        *(arrays(shape, elements=e) for shape, e in zip(drawn, elements))))


def _sampled(**choices) -> st.SearchStrategy:
    return st.fixed_dictionaries({name: st.sampled_from(values)
                                  for name, values in choices.items()})


def _elu_reference(x, alpha=1.0, scale=1.0, input_scale=1.0):
    return scale * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0) * input_scale))


def _softplus_reference(x, beta=1.0, threshold=20.0):
    return np.where(beta * x > threshold, x, np.logaddexp(0.0, beta * x) / beta)


# --------------------------------------------------------------------------- activations
def _gelu_reference(x, approximate):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x ** 3)))
    return x * 0.5 * (1 + _erf(x / np.sqrt(2)))


register(OpSpec("gelu", ops.gelu, _gelu_reference, unary(WIDE),
                kwargs=_sampled(approximate=["none", "tanh"])))
register(OpSpec("silu", ops.silu, lambda x: x / (1 + np.exp(-x)), unary(WIDE)))
register(OpSpec("mish", ops.mish, lambda x: x * np.tanh(np.logaddexp(0.0, x)), unary(WIDE)))
register(OpSpec("selu", ops.selu, lambda x: _elu_reference(
    x, 1.6732632423543772848170429916717, 1.0507009873554804934193349852946),
    unary(OFF_ZERO)))
register(OpSpec("celu", ops.celu, lambda x, alpha: _elu_reference(x, alpha, 1.0, 1 / alpha),
                unary(OFF_ZERO), kwargs=_sampled(alpha=[1.0, 0.5, 2.0])))
register(OpSpec("hardtanh", ops.hardtanh,
                lambda x, min_val, max_val: np.minimum(np.maximum(x, min_val), max_val),
                unary(away_from_kinks((-2.0, -1.0, 0.5, 1.0))),
                kwargs=st.sampled_from([{"min_val": -1.0, "max_val": 1.0},
                                        {"min_val": -2.0, "max_val": 0.5}])))
register(OpSpec("relu6", ops.relu6, lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
                unary(away_from_kinks((0.0, 6.0), min_value=-3.0, max_value=8.0))))
register(OpSpec("hardsigmoid", ops.hardsigmoid,
                lambda x: np.minimum(np.maximum(x / 6 + 0.5, 0.0), 1.0),
                unary(away_from_kinks((-3.0, 3.0), min_value=-5.0, max_value=5.0))))
# |x| makes the second derivative jump at 0
register(OpSpec("softsign", ops.softsign, lambda x: x / (1 + np.abs(x)), unary(OFF_ZERO)))
register(OpSpec("softplus_beta_threshold", ops.softplus, _softplus_reference,
                # the linear part starts at x = threshold / beta: 0.5 and 2 here, avoided
                unary(away_from_kinks((0.5, 2.0))),
                kwargs=_sampled(beta=[0.5, 2.0], threshold=[20.0, 1.0])))


@st.composite
def _prelu_inputs(draw):
    """x (N, C, *spatial) or (N,) with one slope per channel, or one shared slope."""
    shape = draw(st.one_of(st.tuples(st.integers(1, 3)),
                           shapes(min_dims=2, max_dims=4, max_side=3)))
    channels = shape[1] if len(shape) > 1 else 1
    slopes = draw(st.sampled_from([(channels,), (1,), ()]))
    return draw(arrays(shape, elements=OFF_ZERO)), draw(arrays(slopes, elements=REAL))


def _prelu_reference(x, weight):
    slope = weight.reshape((1, -1) + (1,) * (x.ndim - 2)) if x.ndim > 1 else weight
    return np.where(x > 0, x, slope * x)


register(OpSpec("prelu", ops.prelu, _prelu_reference, _prelu_inputs()))


@st.composite
def _glu_inputs(draw):
    shape = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(0, len(shape) - 1))
    shape[axis] *= 2
    return (draw(arrays(tuple(shape), elements=WIDE)),)


def _glu_kwargs(arrays_):
    x = arrays_[0]
    even = [a for a in range(x.ndim) if x.shape[a] % 2 == 0]
    return st.fixed_dictionaries({"dim": st.sampled_from(even + [a - x.ndim for a in even])})


def _glu_reference(x, dim):
    a, b = np.split(x, 2, axis=dim)
    return a / (1 + np.exp(-b))


register(OpSpec("glu", ops.glu, _glu_reference, _glu_inputs(), kwargs=_glu_kwargs))


# --------------------------------------------------------------------------- math functions
def _fractional(low: float, high: float, scale: float = 1.0) -> st.SearchStrategy:
    """(k + f) * scale for an integer k in [-3, 2] and f in [low, high]: away from the
    integers (times scale) where a rounding op jumps."""
    return st.builds(lambda k, f: (k + f) * scale, st.integers(-3, 2), floats(low, high))


def _round_inputs(decimals: int) -> st.SearchStrategy:
    # round jumps at the half-way points: keep the fraction in [0.1, 0.4] or [0.6, 0.9]
    scale = 10.0 ** -decimals
    return unary(st.one_of(_fractional(0.1, 0.4, scale), _fractional(0.6, 0.9, scale)))


register(OpSpec("log1p", ops.log1p, lambda x: np.log(1 + x), unary(floats(-0.9, 3.0))))
register(OpSpec("expm1", ops.expm1, lambda x: np.exp(x) - 1, unary()))
register(OpSpec("rsqrt", ops.rsqrt, lambda x: x ** -0.5, unary(POSITIVE)))
register(OpSpec("square", ops.square, lambda x: x * x, unary()))
register(OpSpec("reciprocal", ops.reciprocal, lambda x: 1 / x,
                unary(away_from_kinks((0.0,), margin=0.5))))
register(OpSpec("sin", ops.sin, np.sin, unary(WIDE)))
register(OpSpec("cos", ops.cos, np.cos, unary(WIDE)))
register(OpSpec("erf", ops.erf, _erf, unary(WIDE)))
register(OpSpec("sign", ops.sign, lambda x: (x > 0) * 1.0 - (x < 0) * 1.0, unary(OFF_ZERO)))
register(OpSpec("floor", ops.floor, lambda x: x - np.mod(x, 1.0), unary(_fractional(0.1, 0.9))))
register(OpSpec("ceil", ops.ceil, lambda x: x - np.mod(x, 1.0) + 1,
                unary(_fractional(0.1, 0.9))))
for _decimals in (0, 1, -1):
    register(OpSpec(
        f"round_decimals_{_decimals}".replace("-", "minus_"), ops.round,
        lambda x, decimals: np.floor(x * 10.0 ** decimals + 0.5) / 10.0 ** decimals,
        _round_inputs(_decimals), kwargs=st.just({"decimals": _decimals})))
register(OpSpec("logaddexp", ops.logaddexp, lambda a, b: np.maximum(a, b) + np.log1p(
    np.exp(-np.abs(a - b))), broadcasting(WIDE, WIDE)))
# x * log(y) is smooth in x for y > 0, at x = 0 too (drawn exactly, often)
register(OpSpec("xlogy", ops.xlogy, lambda x, y: x * np.log(y),
                broadcasting(st.one_of(st.just(0.0), REAL), POSITIVE)))
register(OpSpec("nan_to_num", ops.nan_to_num, lambda x, **_: x.copy(), unary(),
                kwargs=_sampled(nan=[0.0, -1.0], posinf=[None, 5.0], neginf=[None, -5.0])))


def _lerp_reference(start, end, weight):
    return start + weight * (end - start)


register(OpSpec("lerp", ops.lerp, _lerp_reference,
                broadcasting(REAL, REAL, floats(-0.5, 1.5))))
register(OpSpec("lerp_scalar_weight", ops.lerp, _lerp_reference, broadcasting(REAL, REAL),
                kwargs=_sampled(weight=[0.0, 0.3, 0.5, 1.0, 1.25])))


def _clamp_reference(x, low=None, high=None):
    y = x if low is None else np.maximum(x, low)
    return y if high is None else np.minimum(y, high)


# three interleaved families never tie, whatever broadcasting pairs them with; low > high
# happens too (the result is then high, as in PyTorch)
register(OpSpec("clamp_tensor_bounds", ops.clamp, _clamp_reference, broadcasting(
    separated_floats(0, 3), separated_floats(1, 3), separated_floats(2, 3))))
register(OpSpec("clamp_tensor_min", ops.clamp, _clamp_reference,
                broadcasting(separated_floats(0), separated_floats(1)),
                call=lambda x, low: ops.clamp(x, min=low)))
register(OpSpec("clamp_tensor_max", ops.clamp, lambda x, high: _clamp_reference(x, high=high),
                broadcasting(separated_floats(0), separated_floats(1)),
                call=lambda x, high: ops.clamp(x, max=high)))


# --------------------------------------------------------------------------- arithmetic
@st.composite
def _quotient_inputs(draw):
    """(a, b) with a / b at least 0.1 from an integer (where a rounded quotient and the
    remainder jump) and b at least 0.5 from zero."""
    shape = draw(shapes())
    b = draw(arrays(shape, elements=away_from_kinks((0.0,), margin=0.5)))
    return draw(arrays(shape, elements=_fractional(0.1, 0.9))) * b, b


register(OpSpec("add_alpha", ops.add, lambda a, b, alpha: a + alpha * b,
                broadcasting(REAL, REAL), kwargs=_sampled(alpha=[2, -0.5])))
register(OpSpec("sub_alpha", ops.sub, lambda a, b, alpha: a - alpha * b,
                broadcasting(REAL, REAL), kwargs=_sampled(alpha=[3, 0.25])))
register(OpSpec("div_rounding_mode", ops.div,
                lambda a, b, rounding_mode: getattr(np, rounding_mode)(a / b),
                _quotient_inputs(), kwargs=_sampled(rounding_mode=["trunc", "floor"])))
register(OpSpec("floor_divide", ops.floor_divide, lambda a, b: np.floor(a / b),
                _quotient_inputs()))
register(OpSpec("remainder", ops.remainder, lambda a, b: a - b * np.floor(a / b),
                _quotient_inputs()))


# --------------------------------------------------------------------------- normalization
def _standardized(x, axes, eps=1e-5):
    mean = x.mean(axis=axes, keepdims=True)
    return (x - mean) / np.sqrt(((x - mean) ** 2).mean(axis=axes, keepdims=True) + eps)


def _distinct(shape) -> st.SearchStrategy:
    # distinct entries keep every variance well away from zero
    return distinct_arrays(shape=st.just(tuple(shape)), gap=0.3)


@st.composite
def _layer_norm_inputs(draw):
    lead = draw(st.lists(st.integers(1, 3), max_size=2))
    trailing = draw(st.lists(st.integers(1, 4), min_size=1, max_size=2))
    drawn = [draw(_distinct(lead + trailing))]
    if draw(st.booleans()):
        drawn += [draw(arrays(tuple(trailing), elements=floats(0.5, 2.0))),
                  draw(arrays(tuple(trailing)))]
    return tuple(drawn)


def _layer_norm_reference(x, weight=None, bias=None, *, normalized_ndim):
    y = _standardized(x, tuple(range(x.ndim - normalized_ndim, x.ndim)))
    return y if weight is None else y * weight + bias


register(OpSpec(
    "layer_norm", normalization.layer_norm,
    lambda x, *affine: _layer_norm_reference(
        x, *affine, normalized_ndim=affine[0].ndim if affine else 1),
    _layer_norm_inputs(),
    # without affine parameters one trailing axis is normalized
    call=lambda x, *affine: normalization.layer_norm(
        x, affine[0].shape if affine else x.shape[-1:], *affine),
))


def _per_channel(values, ndim):
    return values.reshape((1, -1) + (1,) * (ndim - 2))


@st.composite
def _group_norm_inputs(draw):
    spatial = draw(st.lists(st.integers(1, 3), max_size=2))
    shape = (draw(st.integers(1, 2)), draw(st.sampled_from([1, 2, 3, 4, 6])), *spatial)
    channels = shape[1]
    return (draw(_distinct(shape)), draw(arrays((channels,), elements=floats(0.5, 2.0))),
            draw(arrays((channels,))))


def _group_norm_kwargs(arrays_):
    batch, channels, *spatial = arrays_[0].shape
    # PyTorch refuses a single value per group (inputs of one value are filtered out)
    groups = [g for g in range(1, channels + 1)
              if channels % g == 0 and batch * (channels // g) * math.prod(spatial) > 1]
    return st.fixed_dictionaries({"num_groups": st.sampled_from(groups)})


def _group_norm_reference(x, weight, bias, num_groups):
    y = _standardized(x.reshape(x.shape[0], num_groups, -1), (2,)).reshape(x.shape)
    return y * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


register(OpSpec("group_norm", normalization.group_norm, _group_norm_reference,
                _group_norm_inputs().filter(lambda drawn: drawn[0].size > 1),
                kwargs=_group_norm_kwargs,
                call=lambda x, w, b, num_groups: normalization.group_norm(x, num_groups, w, b)))


@st.composite
def _instance_inputs(draw):
    spatial = draw(st.sampled_from([(2,), (3,), (1, 3), (2, 2), (3, 2)]))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *spatial)
    channels = shape[1]
    return (draw(_distinct(shape)), draw(arrays((channels,), elements=floats(0.5, 2.0))),
            draw(arrays((channels,))))


def _instance_norm_reference(x, weight, bias):
    y = _standardized(x, tuple(range(2, x.ndim)))
    return y * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


def _running_stats_reference(x, weight, bias, running_mean, running_var):
    y = (x - _per_channel(running_mean, x.ndim)) / np.sqrt(
        _per_channel(running_var, x.ndim) + 1e-5)
    return y * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


register(OpSpec(
    "instance_norm", normalization.instance_norm, _instance_norm_reference, _instance_inputs(),
    call=lambda x, w, b: normalization.instance_norm(x, weight=w, bias=b),
))
register(OpSpec(
    "instance_norm_running_stats", normalization.instance_norm,
    _running_stats_reference, _instance_inputs(),
    kwargs=lambda arrays_: st.fixed_dictionaries({
        "running_mean": arrays((arrays_[1].shape[0],)),
        "running_var": arrays((arrays_[1].shape[0],), elements=floats(0.2, 2.0))}),
    call=lambda x, w, b, running_mean, running_var: normalization.instance_norm(
        x, running_mean.copy(), running_var.copy(), w, b, use_input_stats=False),
))


@st.composite
def _normalize_inputs(draw):
    """Entries with distinct magnitudes at least 0.2 from zero, of random signs: no kink of
    |x| (p = 1), no tie for the largest magnitude (p = inf), no zero vector."""
    shape = draw(shapes(min_dims=1))
    magnitudes = draw(distinct_arrays(shape=st.just(shape), gap=0.1))
    magnitudes = magnitudes - magnitudes.min() + 0.2
    signs = draw(arrays(shape, dtype=bool))
    return (np.where(signs, magnitudes, -magnitudes),)


def _normalize_kwargs(arrays_):
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"p": st.sampled_from([2.0, 1.0, 3.0, math.inf]),
                                  "dim": st.integers(-ndim, ndim - 1)})


def _normalize_reference(x, p, dim):
    magnitude = np.abs(x)
    if p == math.inf:
        norm = magnitude.max(axis=dim, keepdims=True)
    else:
        norm = (magnitude ** p).sum(axis=dim, keepdims=True) ** (1 / p)
    return x / np.maximum(norm, 1e-12)


register(OpSpec("normalize", normalization.normalize, _normalize_reference,
                _normalize_inputs(), kwargs=_normalize_kwargs))


@st.composite
def _batch_norm_nd_inputs(draw):
    """(N, C, L) or (N, C, D, H, W), at least two values per channel."""
    spatial = draw(st.sampled_from([(1,), (3,), (2, 1, 2)]))
    batch = draw(st.integers(2 if spatial == (1,) else 1, 3))
    shape = (batch, draw(st.integers(1, 3)), *spatial)
    channels = shape[1]
    return (draw(_distinct(shape)), draw(arrays((channels,), elements=floats(0.5, 2.0))),
            draw(arrays((channels,))))


def _batch_norm_nd_reference(x, weight, bias):
    y = _standardized(x, (0, *range(2, x.ndim)))
    return y * _per_channel(weight, x.ndim) + _per_channel(bias, x.ndim)


register(OpSpec(
    "batch_norm_train_ncl_ncdhw", normalization.batch_norm, _batch_norm_nd_reference,
    _batch_norm_nd_inputs(),
    call=lambda x, w, b: normalization.batch_norm(x, None, None, w, b, training=True),
))
register(OpSpec(
    "batch_norm_eval_ncl_ncdhw", normalization.batch_norm, _running_stats_reference,
    _batch_norm_nd_inputs(),
    kwargs=lambda arrays_: st.fixed_dictionaries({
        "running_mean": arrays((arrays_[1].shape[0],)),
        "running_var": arrays((arrays_[1].shape[0],), elements=floats(0.2, 2.0))}),
    call=lambda x, w, b, running_mean, running_var: normalization.batch_norm(
        x, running_mean.copy(), running_var.copy(), w, b, training=False),
))
