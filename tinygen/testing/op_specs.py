"""Specs for the core ops in ``tinygen.autograd.ops``: every name in its ``__all__``.

Element domains keep each op on the smooth part of its domain: positive for log, sqrt and
the base of pow; at least 0.5 from zero for a divisor; away from the kinks of relu, abs,
clip; no ties for maximum/minimum and max/min. All core ops are twice differentiable there.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygen.autograd import ops
from tinygen.autograd.ops import shape as shape_ops
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import (
    arrays,
    away_from_kinks,
    broadcastable_shapes,
    distinct_arrays,
    floats,
    reduction_axes,
    separated_floats,
    shapes,
)

REAL = floats()
POSITIVE = floats(0.1, 3.0)
BASE = floats(0.5, 3.0)  # pow's base: positive, and not so small that a^b explodes
DIVISOR = away_from_kinks((0.0,), margin=0.5)
OFF_ZERO = away_from_kinks((0.0,), margin=0.1)
WIDE = floats(-5.0, 5.0)  # activations saturate out here; still smooth


# --------------------------------------------------------------------------- input builders
def unary(elements=REAL, shape=None) -> st.SearchStrategy:
    """One float64 array."""
    return st.tuples(arrays(shapes() if shape is None else shape, elements=elements))


def broadcasting(*elements) -> st.SearchStrategy:
    """One array per element strategy, of mutually broadcastable shapes."""

    def build(drawn_shapes):
        return st.tuples(*(arrays(shape, elements=e) for shape, e in zip(drawn_shapes,
                                                                          elements)))

    return broadcastable_shapes(len(elements)).flatmap(build)


def keep_dims(draw_axis):
    """kwargs {axis, keepdims} for a reduction, fitted to the drawn array."""
    return lambda arrays_: st.fixed_dictionaries(
        {"axis": draw_axis(arrays_[0].ndim), "keepdims": st.booleans()})


def one_axis(arrays_):
    """kwargs {axis} with one valid int axis (arrays of at least one axis)."""
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"axis": st.integers(-ndim, ndim - 1)})


def _axes_tuple(axis, ndim):
    if axis is None or axis == ():  # PyTorch's dim=() reduces every axis
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


def _every_axis_when_empty(reduce):
    """A NumPy reduction with PyTorch's reading of axis=(): every axis (NumPy's: none)."""
    def reference(x, axis=None, keepdims=False, **options):
        return reduce(x, axis=None if axis == () else axis, keepdims=keepdims, **options)
    return reference


# --------------------------------------------------------------------------- elementwise
register(OpSpec("add", ops.add, np.add, broadcasting(REAL, REAL)))
register(OpSpec("sub", ops.sub, np.subtract, broadcasting(REAL, REAL)))
register(OpSpec("mul", ops.mul, np.multiply, broadcasting(REAL, REAL)))
register(OpSpec("div", ops.div, np.divide, broadcasting(REAL, DIVISOR)))
register(OpSpec("neg", ops.neg, np.negative, unary()))
register(OpSpec(
    "pow_scalar", ops.pow, lambda a, b: a ** b, unary(BASE),
    kwargs=st.fixed_dictionaries({"b": st.sampled_from([2, 3, 0.5, -1.0, 2.5, -0.5])}),
))
# off zero: at an exponent of exactly 0 the base's gradient is PyTorch's masked 0, constant in
# the exponent (tests/parity/test_math_parity.py checks that point)
register(OpSpec("pow_tensor", ops.pow, np.power, broadcasting(BASE, OFF_ZERO)))
register(OpSpec("exp", ops.exp, np.exp, unary()))
register(OpSpec("log", ops.log, np.log, unary(POSITIVE)))
register(OpSpec("sqrt", ops.sqrt, np.sqrt, unary(POSITIVE)))
register(OpSpec("abs", ops.abs, np.abs, unary(OFF_ZERO)))
# operands from interleaved families never tie, whatever broadcasting pairs them with
register(OpSpec("maximum", ops.maximum, np.maximum,
                broadcasting(separated_floats(0), separated_floats(1))))
register(OpSpec("minimum", ops.minimum, np.minimum,
                broadcasting(separated_floats(1), separated_floats(0))))
register(OpSpec(
    "clip", ops.clip, lambda x, **bounds: np.clip(x, bounds["min"], bounds["max"]),
    unary(away_from_kinks((-1.0, 0.5, 1.0))),
    kwargs=st.sampled_from([
        {"min": -1.0, "max": 1.0}, {"min": -1.0, "max": None}, {"min": None, "max": 0.5},
        {"min": 0.5, "max": 1.0},
    ]),
))


def _where_inputs():
    def build(drawn_shapes):
        condition_shape, a_shape, b_shape = drawn_shapes
        return st.tuples(arrays(condition_shape, dtype=bool), arrays(a_shape),
                         arrays(b_shape))

    return broadcastable_shapes(3).flatmap(build)


register(OpSpec("where", ops.where, np.where, _where_inputs()))
register(OpSpec(
    "cast", ops.cast, lambda x, dtype: x.astype(dtype), unary(),
    kwargs=st.fixed_dictionaries({"dtype": st.sampled_from([np.float32, np.float64])}),
))
register(OpSpec("to_device", ops.to_device, lambda x, device: x.copy(), unary(),
                kwargs=st.just({"device": "cpu"})))


# --------------------------------------------------------------------------- activations
def _softplus(x):
    return np.logaddexp(0.0, x)


register(OpSpec("relu", ops.relu, lambda x: np.maximum(x, 0.0), unary(OFF_ZERO)))
register(OpSpec(
    "leaky_relu", ops.leaky_relu,
    lambda x, negative_slope: np.where(x > 0, x, negative_slope * x), unary(OFF_ZERO),
    kwargs=st.fixed_dictionaries({"negative_slope": st.sampled_from([0.01, 0.2])}),
))
register(OpSpec(
    "elu", ops.elu, lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x)), unary(OFF_ZERO),
    kwargs=st.fixed_dictionaries({"alpha": st.sampled_from([1.0, 0.5])}),
))
register(OpSpec("sigmoid", ops.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), unary(WIDE)))
register(OpSpec("tanh", ops.tanh, np.tanh, unary(WIDE)))
register(OpSpec("softplus", ops.softplus, _softplus, unary(WIDE)))
register(OpSpec("log_sigmoid", ops.log_sigmoid, lambda x: -_softplus(-x), unary(WIDE)))


# --------------------------------------------------------------------------- reductions
def _logsumexp(x, axis=None, keepdims=False):
    axes = _axes_tuple(axis, x.ndim)
    shift = np.max(x, axis=axes, keepdims=True)
    y = np.log(np.sum(np.exp(x - shift), axis=axes, keepdims=True)) + shift
    return y if keepdims else np.squeeze(y, axis=axes)


def _log_softmax(x, axis):
    return x - _logsumexp(x, axis=axis, keepdims=True)


def _var_kwargs(arrays_):
    x = arrays_[0]

    @st.composite
    def draw(draw_):
        axis = draw_(reduction_axes(x.ndim))
        count = int(np.prod([x.shape[a] for a in _axes_tuple(axis, x.ndim)]))
        correction = draw_(st.sampled_from([0, 1] if count > 1 else [0]))
        return {"axis": axis, "keepdims": draw_(st.booleans()), "correction": correction}

    return draw()


register(OpSpec("sum", ops.sum, _every_axis_when_empty(np.sum), unary(),
                kwargs=keep_dims(reduction_axes)))
register(OpSpec("mean", ops.mean, _every_axis_when_empty(np.mean), unary(),
                kwargs=keep_dims(reduction_axes)))
register(OpSpec("var", ops.var, lambda x, axis, keepdims, correction: _every_axis_when_empty(
    np.var)(x, axis=axis, keepdims=keepdims, ddof=correction), unary(), kwargs=_var_kwargs))


def _std_kwargs(arrays_):
    # over at least two distinct entries, so the deviation is away from sqrt's kink at 0
    x = arrays_[0]
    axes = reduction_axes(x.ndim).filter(lambda axis: int(np.prod(
        [x.shape[a] for a in _axes_tuple(axis, x.ndim)])) >= 2)
    return st.fixed_dictionaries({"axis": axes, "keepdims": st.booleans(),
                                  "correction": st.sampled_from([0, 1])})


register(OpSpec("std", ops.std, lambda x, axis, keepdims, correction: _every_axis_when_empty(
    np.std)(x, axis=axis, keepdims=keepdims, ddof=correction),
    st.tuples(distinct_arrays(shapes(min_dims=1, min_side=2))), kwargs=_std_kwargs))
# distinct entries: a tie between two maxima is a kink
# (PyTorch's dim=() reduces every axis, NumPy's axis=() none: the empty tuple is not drawn)
register(OpSpec("amax", ops.amax, np.max, st.tuples(distinct_arrays()),
                kwargs=keep_dims(lambda n: reduction_axes(n).filter(lambda a: a != ())),
                call=lambda x, axis, keepdims: ops.amax(x, () if axis is None else axis,
                                                        keepdims)))
register(OpSpec("amin", ops.amin, np.min, st.tuples(distinct_arrays()),
                kwargs=keep_dims(lambda n: reduction_axes(n).filter(lambda a: a != ())),
                call=lambda x, axis, keepdims: ops.amin(x, () if axis is None else axis,
                                                        keepdims)))


def _extreme_kwargs(arrays_):
    ndim = arrays_[0].ndim
    dims = st.just(None) if ndim == 0 else st.one_of(st.none(), st.integers(-ndim, ndim - 1))
    return st.fixed_dictionaries({"dim": dims, "keepdim": st.booleans()})


def _extreme_reference(pick, arg):
    def reference(x, dim, keepdim):
        if dim is None:
            return pick(x)
        return pick(x, axis=dim, keepdims=keepdim), arg(x, axis=dim, keepdims=keepdim)
    return reference


# torch.max(x) is the largest entry; torch.max(x, dim) the (values, indices) pair
register(OpSpec("max", ops.max, _extreme_reference(np.max, np.argmax),
                st.tuples(distinct_arrays()), kwargs=_extreme_kwargs))
register(OpSpec("min", ops.min, _extreme_reference(np.min, np.argmin),
                st.tuples(distinct_arrays()), kwargs=_extreme_kwargs))
register(OpSpec("var_mean", ops.var_mean, lambda x, dim, keepdim: (
    np.var(x, axis=dim, keepdims=keepdim, ddof=1), np.mean(x, axis=dim, keepdims=keepdim)),
    unary(shape=shapes(min_dims=1, min_side=2)),
    kwargs=lambda arrays_: st.fixed_dictionaries({
        "dim": st.integers(-arrays_[0].ndim, arrays_[0].ndim - 1),
        "keepdim": st.booleans()})))
register(OpSpec("logsumexp", ops.logsumexp, _logsumexp, unary(),
                kwargs=keep_dims(reduction_axes)))
register(OpSpec("log_softmax", ops.log_softmax, _log_softmax, unary(shape=shapes(min_dims=1)),
                kwargs=one_axis))
register(OpSpec("softmax", ops.softmax, lambda x, axis: np.exp(_log_softmax(x, axis)),
                unary(shape=shapes(min_dims=1)), kwargs=one_axis))


# --------------------------------------------------------------------------- shape ops
def _reshape_kwargs(arrays_):
    shape, size = arrays_[0].shape, arrays_[0].size
    targets = [(size,), (-1,), tuple(reversed(shape)), (1, *shape), (*shape, 1)]
    if size % 2 == 0:
        targets.append((2, -1))
    return st.fixed_dictionaries({"shape": st.sampled_from(targets)})


def _flatten_kwargs(arrays_):
    ndim = arrays_[0].ndim

    @st.composite
    def draw(draw_):
        start = draw_(st.integers(0, ndim - 1))
        end = draw_(st.integers(start, ndim - 1))
        # either sign of index names the same axis; draw both spellings
        return {"start_dim": start - draw_(st.sampled_from([0, ndim])),
                "end_dim": end - draw_(st.sampled_from([0, ndim]))}

    return draw()


def _flatten_reference(x, start_dim, end_dim):
    start, end = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:start] + (-1,) + x.shape[end + 1:])


def _transpose_kwargs(arrays_):
    # (dim0, dim1), either may repeat the other; () is the no-dims form (every axis reversed)
    ndim = max(arrays_[0].ndim, 1)
    pairs = st.tuples(st.integers(-ndim, ndim - 1), st.integers(-ndim, ndim - 1))
    return st.fixed_dictionaries({"axes": st.one_of(st.just(()), pairs)})


def _transpose_reference(x, axes):
    if not axes:
        return x.T
    return np.swapaxes(x, *axes) if x.ndim else x


def _expand_kwargs(arrays_):
    shape = arrays_[0].shape

    @st.composite
    def draw(draw_):
        lead = draw_(st.lists(st.integers(1, 3), max_size=2))
        sides = [draw_(st.integers(1, 3)) if n == 1 else n for n in shape]
        # -1 keeps an existing size
        sides = [draw_(st.sampled_from([n, -1])) if n == m else n for n, m in zip(sides, shape)]
        return {"shape": (*lead, *sides)}

    return draw()


def _expand_reference(x, shape):
    lead = len(shape) - x.ndim
    sizes = tuple(x.shape[i - lead] if n == -1 else n for i, n in enumerate(shape))
    return np.broadcast_to(x, sizes)


def _squeeze_kwargs(arrays_):
    shape = arrays_[0].shape
    ones = [i for i, n in enumerate(shape) if n == 1]
    options = [st.none()]
    if ones:
        options.append(st.sampled_from(ones))
        options.append(st.sets(st.sampled_from(ones), min_size=1).map(tuple))
    return st.fixed_dictionaries({"axis": st.one_of(*options)})


def _unsqueeze_kwargs(arrays_):
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"dim": st.integers(-ndim - 1, ndim)})


def _basic_index_kwargs(arrays_):
    return st.fixed_dictionaries({"index": hnp.basic_indices(
        arrays_[0].shape, allow_newaxis=True, allow_ellipsis=True)})


def _advanced_index_kwargs(arrays_):
    shape = arrays_[0].shape
    integer_arrays = hnp.integer_array_indices(
        shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
    # the first index array repeated at its end: the backward must add both contributions
    repeated = integer_arrays.map(
        lambda index: (np.concatenate([index[0].ravel(), index[0].ravel()[:1]]),))
    mask = arrays(shape, dtype=bool)
    options = [integer_arrays, repeated, mask]
    if len(shape) >= 2:
        # an index array on axis 0 with a slice on axis 1 (mixed advanced and basic)
        rows = arrays((3,), dtype=np.int64,
                      elements=st.integers(-shape[0], shape[0] - 1))
        options.append(rows.map(lambda r: (r, slice(None, None, -1))))
    return st.fixed_dictionaries({"index": st.one_of(*options)})


def _index_add_kwargs(arrays_):
    values = arrays_[0]

    @st.composite
    def draw(draw_):
        length = draw_(st.integers(1, 4))
        index = draw_(arrays(values.shape[:1], dtype=np.int64,
                             elements=st.integers(-length, length - 1)))
        return {"index": index, "shape": (length, *values.shape[1:])}

    return draw()


def _index_add_reference(values, index, shape):
    out = np.zeros(shape, dtype=values.dtype)
    np.add.at(out, index, values)
    return out


@st.composite
def _concatenate_inputs(draw):
    base = list(draw(shapes(min_dims=1)))
    axis = draw(st.integers(0, len(base) - 1))
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        base[axis] = draw(st.integers(1, 3))
        pieces.append(draw(arrays(tuple(base))))
    return tuple(pieces)


def _concatenate_kwargs(arrays_):
    ndim = arrays_[0].ndim

    def fits(axis):
        rest = {tuple(n for i, n in enumerate(a.shape) if i != axis) for a in arrays_}
        return len(rest) == 1

    axes = [a for a in range(ndim) if fits(a)]
    return st.fixed_dictionaries({"axis": st.sampled_from(axes + [a - ndim for a in axes])})


@st.composite
def _stack_inputs(draw):
    shape = draw(shapes())
    return tuple(draw(arrays(shape)) for _ in range(draw(st.integers(1, 3))))


def _stack_kwargs(arrays_):
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"axis": st.integers(-ndim - 1, ndim)})


def _split_kwargs(arrays_):
    shape = arrays_[0].shape

    @st.composite
    def draw(draw_):
        axis = draw_(st.integers(-len(shape), len(shape) - 1))
        length = shape[axis]
        cuts = sorted(draw_(st.sets(st.integers(1, length - 1))) if length > 1 else [])
        sizes = [b - a for a, b in zip([0, *cuts], [*cuts, length])]
        return {"split_size_or_sections": draw_(st.one_of(st.integers(1, length),
                                                          st.just(sizes))),
                "dim": axis}

    return draw()


def _split_reference(x, split_size_or_sections, dim):
    sizes, axis = split_size_or_sections, dim
    length = x.shape[axis]
    if isinstance(sizes, int):
        cuts = list(range(sizes, length, sizes))
    else:
        cuts = list(np.cumsum(sizes)[:-1])
    return np.split(x, cuts, axis=axis)


def _pad_kwargs(arrays_):
    ndim = arrays_[0].ndim
    pair = st.tuples(st.integers(0, 2), st.integers(0, 2))
    widths = st.one_of(st.integers(0, 2), st.lists(pair, min_size=ndim, max_size=ndim)
                       .map(tuple))
    return st.fixed_dictionaries({"pad_width": widths, "value": floats(-2.0, 2.0)})


def _pad_reference(x, pad_width, value):
    return np.pad(x, pad_width, mode="constant", constant_values=value)


def _flip_kwargs(arrays_):
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"axis": st.one_of(
        st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1))})


register(OpSpec("reshape", ops.reshape, np.reshape, unary(), kwargs=_reshape_kwargs))
register(OpSpec("flatten", ops.flatten, _flatten_reference, unary(shape=shapes(min_dims=1)),
                kwargs=_flatten_kwargs))
register(OpSpec("transpose", ops.transpose, _transpose_reference, unary(),
                kwargs=_transpose_kwargs, call=lambda x, axes: ops.transpose(x, *axes)))
register(OpSpec("permute", ops.permute, np.transpose, unary(),
                kwargs=lambda arrays_: st.fixed_dictionaries(
                    {"axes": st.permutations(range(arrays_[0].ndim)).map(tuple)})))
register(OpSpec("expand", ops.expand, _expand_reference, unary(), kwargs=_expand_kwargs))
register(OpSpec("squeeze", ops.squeeze, np.squeeze, unary(shape=shapes(max_side=2)),
                kwargs=_squeeze_kwargs))
register(OpSpec("unsqueeze", ops.unsqueeze, lambda x, dim: np.expand_dims(x, dim), unary(),
                kwargs=_unsqueeze_kwargs))
register(OpSpec("getitem_basic", ops.getitem, lambda x, index: x[index], unary(),
                kwargs=_basic_index_kwargs))
register(OpSpec("getitem_advanced", ops.getitem, lambda x, index: x[index],
                unary(shape=shapes(min_dims=1)), kwargs=_advanced_index_kwargs))
# the adjoint of getitem (PyTorch's index_add, ops.index_add, is in op_specs_indexing)
register(OpSpec("index_add_into_zeros", shape_ops.index_add, _index_add_reference,
                unary(shape=shapes(min_dims=1)), kwargs=_index_add_kwargs))
register(OpSpec("concatenate", ops.concatenate, lambda *xs, axis: np.concatenate(xs, axis),
                _concatenate_inputs(), kwargs=_concatenate_kwargs,
                call=lambda *xs, axis: ops.concatenate(xs, axis=axis)))
register(OpSpec("stack", ops.stack, lambda *xs, axis: np.stack(xs, axis), _stack_inputs(),
                kwargs=_stack_kwargs, call=lambda *xs, axis: ops.stack(xs, axis=axis)))
register(OpSpec("split", ops.split, _split_reference, unary(shape=shapes(min_dims=1)),
                kwargs=_split_kwargs))
# NumPy-style widths (tinygen's own layers use it); PyTorch's F.pad is in op_specs_structure
register(OpSpec("pad_widths", shape_ops.pad, _pad_reference, unary(shape=shapes(min_dims=1)),
                kwargs=_pad_kwargs))
register(OpSpec("flip", ops.flip, np.flip, unary(shape=shapes(min_dims=1)),
                kwargs=_flip_kwargs))


# --------------------------------------------------------------------------- matmul
@st.composite
def _matmul_inputs(draw):
    """Matrices, broadcasting stacks of matrices, and 1-D operands on either side."""
    m, k, n = (draw(st.integers(1, 4)) for _ in range(3))
    batch_a, batch_b = draw(broadcastable_shapes(2, max_dims=2, max_side=3))
    a_shape = (k,) if draw(st.booleans()) else (*batch_a, m, k)
    b_shape = (k,) if draw(st.booleans()) else (*batch_b, k, n)
    return draw(arrays(a_shape)), draw(arrays(b_shape))


register(OpSpec("matmul", ops.matmul, np.matmul, _matmul_inputs()))
