"""Specs for the indexing ops (``tinygen.autograd.ops.indexing``): gather, scatter,
scatter_add, index_select, take_along_dim, masked_fill, tril/triu, sort, argsort, topk,
one_hot and embedding.

Index arrays are drawn in range and with the shape rules PyTorch states; an op's ``dim``
is then drawn among the axes the drawn index fits. The references are NumPy routines or
plain loops over the index.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd import ops
from tinygen.autograd.ops import indexing
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, broadcastable_shapes, distinct_arrays, floats, shapes

COARSE = st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0])  # ties are drawn often


def _unique_along(index, dim: int) -> bool:
    ordered = np.sort(index, axis=dim)
    return bool(np.all(np.diff(ordered, axis=dim) != 0))


@st.composite
def _indexed(draw, with_src: bool = False, unique: bool = False):
    """(x, index) or (x, index, src) with PyTorch's shapes for a drawn dim: index no larger
    than x on the other axes, src no smaller than index; with ``unique``, no index repeats
    along dim (a scatter whose writes collide has no single derivative)."""
    x_shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(0, len(x_shape) - 1))
    size = x_shape[dim]
    index_shape = tuple(draw(st.integers(1, size if unique else 4)) if d == dim else
                        draw(st.integers(1, n)) for d, n in enumerate(x_shape))
    if unique:  # the first entries of a random permutation of 0..size-1, per lane
        keys = draw(arrays(index_shape[:dim] + (size,) + index_shape[dim + 1:]))
        order = np.argsort(keys, axis=dim, kind="stable")
        index = np.take(order, np.arange(index_shape[dim]), axis=dim).astype(np.int64)
    else:
        index = draw(arrays(index_shape, dtype=np.int64, elements=st.integers(0, size - 1)))
    drawn = (draw(arrays(x_shape)), index)
    if with_src:
        src_shape = tuple(n + draw(st.integers(0, 1)) for n in index_shape)
        drawn += (draw(arrays(src_shape)),)
    return drawn


def _fitting_dims(unique: bool = False):
    """kwargs {dim}: an axis of x that the drawn index fits (either sign)."""
    def kwargs(arrays_):
        x, index = arrays_[:2]
        fits = [d for d in range(x.ndim)
                if all(index.shape[e] <= x.shape[e] for e in range(x.ndim) if e != d)
                and (index.size == 0 or index.max() < x.shape[d])
                and (not unique or _unique_along(index, d))]
        return st.fixed_dictionaries({"dim": st.sampled_from(fits + [d - x.ndim for d in fits])})
    return kwargs


def _gather_reference(x, index, dim):
    crop = tuple(slice(0, n) for n in index.shape)
    window = crop[:dim % x.ndim] + (slice(None),) + crop[dim % x.ndim + 1:]
    return np.take_along_axis(x[window], index, axis=dim)


def _scatter_reference(add: bool):
    def reference(x, index, src, dim):
        out = x.copy()
        for position in np.ndindex(*index.shape):
            target = list(position)
            target[dim] = index[position]
            value = src if np.ndim(src) == 0 else src[position]
            out[tuple(target)] = out[tuple(target)] + value if add else value
        return out
    return reference


register(OpSpec("gather", ops.gather, _gather_reference, _indexed(), kwargs=_fitting_dims(),
                call=lambda x, index, dim: ops.gather(x, dim, index)))
register(OpSpec("scatter", ops.scatter, _scatter_reference(add=False),
                _indexed(with_src=True, unique=True), kwargs=_fitting_dims(unique=True),
                call=lambda x, index, src, dim: ops.scatter(x, dim, index, src)))
register(OpSpec("scatter_value", ops.scatter,
                lambda x, index, dim, value: _scatter_reference(False)(x, index, value, dim),
                _indexed(), kwargs=lambda a: _fitting_dims()(a).flatmap(
                    lambda kw: st.fixed_dictionaries({"dim": st.just(kw["dim"]),
                                                      "value": floats(-2.0, 2.0)})),
                call=lambda x, index, dim, value: ops.scatter(x, dim, index, value)))
register(OpSpec("scatter_add", ops.scatter_add, _scatter_reference(add=True),
                _indexed(with_src=True), kwargs=_fitting_dims(),
                call=lambda x, index, src, dim: ops.scatter_add(x, dim, index, src)))


@st.composite
def _selection(draw):
    x = draw(arrays(shapes(min_dims=1)))
    vector = draw(st.booleans())
    index = draw(arrays((draw(st.integers(0, 4)),) if vector else (), dtype=np.int64,
                        elements=st.integers(0, min(x.shape) - 1)))
    return x, index


def _index_add_reference(x, index, source, dim, alpha):
    out = x.copy()
    for position, target in enumerate(index.reshape(-1)):
        destination = [slice(None)] * x.ndim
        destination[dim] = target
        out[tuple(destination)] += alpha * np.take(source, position, axis=dim)
    return out


@st.composite
def _index_add_inputs(draw):
    """x, a vector of positions along a drawn dim (repeats add up), and the source slices."""
    x = draw(arrays(shapes(min_dims=1)))
    dim = draw(st.integers(0, x.ndim - 1))
    index = draw(arrays((draw(st.integers(0, 4)),), dtype=np.int64,
                        elements=st.integers(0, x.shape[dim] - 1)))
    return x, index, draw(arrays(x.shape[:dim] + index.shape + x.shape[dim + 1:]))


def _index_add_kwargs(arrays_):
    x, index, source = arrays_
    fits = [d for d in range(x.ndim)
            if source.shape == x.shape[:d] + index.shape + x.shape[d + 1:]
            and (index.size == 0 or index.max() < x.shape[d])]
    return st.fixed_dictionaries({"dim": st.sampled_from(fits),
                                  "alpha": st.sampled_from([1, -0.5, 2.0])})


register(OpSpec("index_add", ops.index_add, _index_add_reference, _index_add_inputs(),
                kwargs=_index_add_kwargs,
                call=lambda x, index, source, dim, alpha: ops.index_add(
                    x, dim, index, source, alpha=alpha)))
register(OpSpec("index_select", ops.index_select,
                lambda x, index, dim: np.take(x, index.reshape(-1), axis=dim), _selection(),
                kwargs=lambda a: st.fixed_dictionaries(
                    {"dim": st.integers(-a[0].ndim, a[0].ndim - 1)}),
                call=lambda x, index, dim: ops.index_select(x, dim, index)))


@st.composite
def _along_inputs(draw):
    """x and indices with x's number of axes, broadcasting against x on all but one axis."""
    x_shape = draw(shapes(min_dims=1))
    dim = draw(st.integers(0, len(x_shape) - 1))
    index_shape = tuple(draw(st.integers(0, 4)) if d == dim else draw(st.sampled_from([n, 1]))
                        for d, n in enumerate(x_shape))
    index = draw(arrays(index_shape, dtype=np.int64, elements=st.integers(0, x_shape[dim] - 1)))
    return draw(arrays(x_shape)), index


def _along_dims(arrays_):
    x, index = arrays_
    fits = [d for d in range(x.ndim)
            if all(index.shape[e] in (1, x.shape[e]) for e in range(x.ndim) if e != d)
            and (index.size == 0 or index.max() < x.shape[d])]
    return st.fixed_dictionaries({"dim": st.sampled_from(fits)})


register(OpSpec("take_along_dim", ops.take_along_dim,
                lambda x, indices, dim: np.take_along_axis(x, indices, axis=dim),
                _along_inputs(), kwargs=_along_dims))
register(OpSpec("take_along_dim_flat", ops.take_along_dim,
                lambda x, indices: np.take(x.reshape(-1), indices.reshape(-1)),
                arrays(shapes()).flatmap(lambda x: st.tuples(st.just(x), arrays(
                    shapes(max_dims=2), dtype=np.int64, elements=st.integers(0, x.size - 1))))))


def _masked_inputs(value_tensor: bool):
    def build(pair):
        drawn = (arrays(pair[0]), arrays(pair[1], dtype=np.bool_))
        return st.tuples(*drawn, arrays(())) if value_tensor else st.tuples(*drawn)
    return broadcastable_shapes(2).flatmap(build)


register(OpSpec("masked_fill", ops.masked_fill, lambda x, mask, value: np.where(mask, value, x),
                _masked_inputs(False),
                kwargs=st.fixed_dictionaries({"value": floats(-2.0, 2.0)})))
register(OpSpec("masked_fill_tensor_value", ops.masked_fill,
                lambda x, mask, value: np.where(mask, value, x), _masked_inputs(True)))
DIAGONALS = st.fixed_dictionaries({"diagonal": st.integers(-3, 3)})
register(OpSpec("tril", ops.tril, lambda x, diagonal: np.tril(x, diagonal),
                st.tuples(arrays(shapes(min_dims=2))), kwargs=DIAGONALS))
register(OpSpec("triu", ops.triu, lambda x, diagonal: np.triu(x, diagonal),
                st.tuples(arrays(shapes(min_dims=2))), kwargs=DIAGONALS))


# --------------------------------------------------------------------------- ordering
def _sort_reference(x, dim, descending):
    if x.ndim == 0:
        return x.copy(), np.int64(0)
    order = np.argsort(x, axis=dim)  # distinct entries: one sorting order
    if descending:
        order = np.flip(order, axis=dim)
    return np.take_along_axis(x, order, axis=dim), order.astype(np.int64)


def _dim_and(**others):
    def kwargs(arrays_):
        ndim = max(arrays_[0].ndim, 1)
        return st.fixed_dictionaries({"dim": st.integers(-ndim, ndim - 1), **others})
    return kwargs


register(OpSpec("sort", ops.sort, _sort_reference, st.tuples(distinct_arrays()),
                kwargs=_dim_and(descending=st.booleans())))


def _argsort_reference(x, dim, descending):
    # stable: equal entries keep their order either way
    return np.argsort(-x if descending else x, axis=dim, kind="stable").astype(np.int64)


register(OpSpec("argsort", ops.argsort, _argsort_reference,
                st.tuples(arrays(shapes(min_dims=1), elements=COARSE)),
                kwargs=_dim_and(descending=st.booleans()), order=0))


def _topk_kwargs(arrays_):
    x = arrays_[0]
    return st.integers(-x.ndim, x.ndim - 1).flatmap(lambda dim: st.fixed_dictionaries({
        "k": st.integers(0, x.shape[dim]), "dim": st.just(dim), "largest": st.booleans()}))


def _topk_reference(x, k, dim, largest):
    values, order = _sort_reference(x, dim, descending=largest)
    first = np.arange(k)
    return np.take(values, first, axis=dim), np.take(order, first, axis=dim)


register(OpSpec("topk", ops.topk, _topk_reference,
                st.tuples(distinct_arrays(shapes(min_dims=1))), kwargs=_topk_kwargs))


# --------------------------------------------------------------------------- lookups
CLASSES = st.tuples(arrays(shapes(max_dims=2), dtype=np.int64, elements=st.integers(0, 4)))
register(OpSpec(
    "one_hot", indexing.one_hot,
    lambda tensor, num_classes: np.eye(num_classes, dtype=np.int64)[tensor],
    CLASSES, kwargs=lambda a: st.fixed_dictionaries(
        {"num_classes": st.integers(int(a[0].max()) + 1, 6)}), order=0))
register(OpSpec(
    "one_hot_inferred", indexing.one_hot,
    lambda tensor: np.eye(int(tensor.max()) + 1, dtype=np.int64)[tensor], CLASSES, order=0))


@st.composite
def _lookup(draw):
    rows, width = draw(st.integers(1, 5)), draw(st.integers(1, 3))
    indices = draw(arrays(shapes(max_dims=2), dtype=np.int64,
                          elements=st.integers(0, rows - 1)))
    return draw(arrays((rows, width))), indices


def _padding(arrays_):
    # a padding row that is looked up gets no gradient by design (not the derivative), so
    # the drawn padding_idx is a row the lookup does not read; tests/autograd/ops shows the rest
    weight, indices = arrays_
    unread = [r for r in range(weight.shape[0]) if r not in set(indices.ravel().tolist())]
    options = [None] + unread + [r - weight.shape[0] for r in unread]
    return st.fixed_dictionaries({"padding_idx": st.sampled_from(options)})


register(OpSpec("embedding", indexing.embedding,
                lambda weight, indices, padding_idx: weight[indices], _lookup(),
                kwargs=_padding,
                call=lambda weight, indices, padding_idx: indexing.embedding(
                    indices, weight, padding_idx)))
