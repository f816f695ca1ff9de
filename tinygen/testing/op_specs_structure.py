"""Specs for the structure ops: prod, cumsum, logcumsumexp and the norms; the shape ops
(chunk, unbind, movedim, narrow, unflatten, t, clone, repeat, tile, roll, the stacks and
PyTorch's pad); and the products (einsum, mm, bmm, mv, dot, outer, tensordot, addmm,
baddbmm). The indexing ops register in ``op_specs_indexing``.

Each reference is NumPy's own routine or the definition written out, never tinygen's code.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd import ops
from tinygen.autograd.ops import tiling
from tinygen.autograd.ops.norms import linalg_norm, matrix_norm, vector_norm
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import (
    arrays,
    away_from_kinks,
    broadcastable_shapes,
    distinct_arrays,
    floats,
    shapes,
)

REAL = floats()
# exact zeros among the entries: prod's gradient there is the product of the others
WITH_ZEROS = st.one_of(floats(-2.0, 2.0), st.just(0.0))
OFF_ZERO = away_from_kinks((0.0,), margin=0.2)


def _one(shape=None, elements=REAL) -> st.SearchStrategy:
    return st.tuples(arrays(shapes() if shape is None else shape, elements=elements))


def _dim(arrays_, none: bool = False) -> st.SearchStrategy:
    """One valid dim of the first array (0 or -1 for a 0-d one), or None if allowed."""
    ndim = max(arrays_[0].ndim, 1)
    dims = st.integers(-ndim, ndim - 1)
    return st.one_of(st.none(), dims) if none else dims


# --------------------------------------------------------------------------- reductions
def _prod_reference(x, dim, keepdim):
    if dim is None or x.ndim == 0:
        y = np.prod(x)
        return np.reshape(y, (1,) * x.ndim) if keepdim and dim is None else y
    return np.prod(x, axis=dim, keepdims=keepdim)


register(OpSpec("prod", ops.prod, _prod_reference, _one(elements=WITH_ZEROS),
                kwargs=lambda a: st.fixed_dictionaries(
                    {"dim": _dim(a, none=True), "keepdim": st.booleans()})))
register(OpSpec("cumsum", ops.cumsum,
                lambda x, dim: x.copy() if x.ndim == 0 else np.cumsum(x, axis=dim),
                _one(), kwargs=lambda a: st.fixed_dictionaries({"dim": _dim(a)})))
register(OpSpec("logcumsumexp", ops.logcumsumexp,
                lambda x, dim: x.copy() if x.ndim == 0 else np.logaddexp.accumulate(x, axis=dim),
                _one(elements=floats(-30.0, 30.0)),
                kwargs=lambda a: st.fixed_dictionaries({"dim": _dim(a)})))


@st.composite
def _signed_distinct(draw, shape=None):
    """Entries whose magnitudes are distinct and at least 0.3, with random signs: no kink
    of |x| and no tie of max |x|."""
    values = draw(distinct_arrays(shapes() if shape is None else shape))
    signs = draw(arrays(values.shape, dtype=np.bool_))
    magnitudes = values - values.min() + 0.3 if values.size else values
    return np.where(signs, magnitudes, -magnitudes)


def _p_norm(x, p, axes, keepdims):
    if p == math.inf:
        return np.max(np.abs(x), axis=axes, keepdims=keepdims)
    if p == -math.inf:
        return np.min(np.abs(x), axis=axes, keepdims=keepdims)
    return np.sum(np.abs(x) ** p, axis=axes, keepdims=keepdims) ** (1.0 / p)


def _norm_dims(ndim, most=None) -> st.SearchStrategy:
    options = [st.none()]
    if ndim:
        options += [st.integers(-ndim, ndim - 1),
                    st.lists(st.integers(0, ndim - 1), min_size=1, max_size=most or ndim,
                             unique=True).map(tuple)]
    return st.one_of(*options)


def _as_axes(dim, ndim):
    return tuple(range(ndim)) if dim is None else dim


ORDERS = [2, 1, 3, 0.5, -1.0, math.inf, -math.inf]
register(OpSpec(
    "norm", ops.norm,
    lambda x, p, dim, keepdim: _p_norm(x, 2 if p == "fro" else p, _as_axes(dim, x.ndim),
                                       keepdim),
    st.tuples(_signed_distinct()),
    kwargs=lambda a: st.fixed_dictionaries({
        "p": st.sampled_from(["fro", *ORDERS]), "dim": _norm_dims(a[0].ndim, most=2),
        "keepdim": st.booleans()}),
))
register(OpSpec(
    "vector_norm", vector_norm,
    lambda x, ord, dim, keepdim: _p_norm(x, ord, _as_axes(dim, x.ndim), keepdim),
    st.tuples(_signed_distinct()),
    kwargs=lambda a: st.fixed_dictionaries({
        "ord": st.sampled_from(ORDERS), "dim": _norm_dims(a[0].ndim),
        "keepdim": st.booleans()}),
))
register(OpSpec(
    "vector_norm_count", vector_norm,
    lambda x, ord, dim: np.count_nonzero(x, axis=_as_axes(dim, x.ndim)).astype(x.dtype),
    _one(elements=st.sampled_from([0.0, 1.5, -2.0])),
    kwargs=lambda a: st.fixed_dictionaries({"ord": st.just(0), "dim": _norm_dims(a[0].ndim)}),
    order=0,
))


@st.composite
def _matrices(draw):
    """Stacks of matrices whose entries have magnitudes 0.1 * 2^k, k a permutation per
    matrix: every two column (or row) sums differ by 0.1 at least, so the largest is
    never a tie, and no entry is near |x|'s kink."""
    batch = draw(st.lists(st.integers(1, 2), max_size=2))
    rows, cols = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    count = math.prod(batch)
    powers = [draw(st.permutations(range(rows * cols))) for _ in range(count)]
    magnitudes = 0.1 * 2.0 ** np.array(powers, dtype=np.float64)
    signs = draw(arrays(magnitudes.shape, dtype=np.bool_))
    return (np.where(signs, magnitudes, -magnitudes).reshape((*batch, rows, cols)),)


def _matrix_dims(arrays_):
    # the last two axes (the drawn matrices), in either order and either sign
    ndim = arrays_[0].ndim
    return st.sampled_from([(-2, -1), (-1, -2), (ndim - 2, ndim - 1), (ndim - 1, -2)])


register(OpSpec(
    "matrix_norm", matrix_norm,
    lambda x, ord, dim, keepdim: np.linalg.norm(x, ord, axis=dim, keepdims=keepdim),
    _matrices(),
    kwargs=lambda a: st.fixed_dictionaries({
        "ord": st.sampled_from(["fro", 1, -1, math.inf, -math.inf]), "dim": _matrix_dims(a),
        "keepdim": st.booleans()}),
))
register(OpSpec(
    "linalg_norm", linalg_norm,
    lambda x, ord, dim: np.linalg.norm(x, ord, axis=dim),
    _matrices(),
    kwargs=lambda a: st.sampled_from([
        {"ord": None, "dim": None}, {"ord": None, "dim": -1}, {"ord": 1, "dim": 0},
        {"ord": "fro", "dim": (-2, -1)}, {"ord": math.inf, "dim": (-1, -2)},
        {"ord": 3, "dim": -1}]),
))


# --------------------------------------------------------------------------- shape ops
def _chunk_reference(x, chunks, dim):
    length = x.shape[dim]
    size = -(-length // chunks)
    return tuple(np.split(x, list(range(size, length, size)), axis=dim))


NONEMPTY = _one(shapes(min_dims=1))
register(OpSpec("chunk", ops.chunk, _chunk_reference, NONEMPTY,
                kwargs=lambda a: st.fixed_dictionaries(
                    {"chunks": st.integers(1, 5), "dim": _dim(a)})))
register(OpSpec("unbind", ops.unbind,
                lambda x, dim: tuple(np.moveaxis(x, dim, 0)), NONEMPTY,
                kwargs=lambda a: st.fixed_dictionaries({"dim": _dim(a)})))


def _movedim_kwargs(arrays_):
    ndim = arrays_[0].ndim

    @st.composite
    def draw(draw_):
        count = draw_(st.integers(1, ndim))
        source = draw_(st.permutations(range(ndim)))[:count]
        target = draw_(st.permutations(range(ndim)))[:count]
        if count == 1 and draw_(st.booleans()):
            return {"source": source[0] - ndim, "destination": target[0]}
        return {"source": tuple(source), "destination": tuple(target)}

    return draw()


register(OpSpec("movedim", ops.movedim, np.moveaxis, NONEMPTY, kwargs=_movedim_kwargs))


def _narrow_kwargs(arrays_):
    shape = arrays_[0].shape

    @st.composite
    def draw(draw_):
        dim = draw_(st.integers(0, len(shape) - 1))
        start = draw_(st.integers(0, shape[dim]))
        length = draw_(st.integers(0, shape[dim] - start))
        if start and draw_(st.booleans()):
            start -= shape[dim]  # the same position counted from the end
        return {"dim": dim, "start": start, "length": length}

    return draw()


def _narrow_reference(x, dim, start, length):
    start = start + x.shape[dim] if start < 0 else start
    return np.take(x, np.arange(start, start + length), axis=dim)


register(OpSpec("narrow", ops.narrow, _narrow_reference, NONEMPTY, kwargs=_narrow_kwargs))


def _unflatten_kwargs(arrays_):
    shape = arrays_[0].shape

    @st.composite
    def draw(draw_):
        dim = draw_(st.integers(-len(shape), len(shape) - 1))
        length = shape[dim]
        first = draw_(st.sampled_from([d for d in range(1, length + 1) if length % d == 0]))
        sizes = [first, length // first]
        if draw_(st.booleans()):
            sizes[draw_(st.integers(0, 1))] = -1
        return {"dim": dim, "sizes": tuple(sizes)}

    return draw()


def _unflatten_reference(x, dim, sizes):
    axis = dim % x.ndim
    return x.reshape(x.shape[:axis] + tuple(sizes) + x.shape[axis + 1:])


register(OpSpec("unflatten", ops.unflatten, _unflatten_reference, NONEMPTY,
                kwargs=_unflatten_kwargs))
register(OpSpec("t", ops.t, lambda x: x.T, _one(shapes(max_dims=2))))
register(OpSpec("clone", ops.clone, lambda x: x.copy(), _one()))


def _repeat_kwargs(arrays_):
    ndim = arrays_[0].ndim
    return st.fixed_dictionaries({"sizes": st.lists(
        st.integers(0, 3), min_size=ndim, max_size=ndim + 2).map(tuple)})


register(OpSpec("repeat", ops.repeat, lambda x, sizes: np.tile(x, sizes), _one(),
                kwargs=_repeat_kwargs))
register(OpSpec("tile", ops.tile, lambda x, dims: np.tile(x, dims), _one(),
                kwargs=lambda a: st.fixed_dictionaries(
                    {"dims": st.lists(st.integers(1, 3), max_size=4).map(tuple)})))


def _roll_kwargs(arrays_):
    ndim = arrays_[0].ndim
    shifts = st.integers(-5, 5)
    if ndim == 0:
        return st.fixed_dictionaries({"shifts": shifts, "dims": st.none()})
    dims = st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                    unique_by=lambda a: a % ndim)
    return st.one_of(
        st.fixed_dictionaries({"shifts": shifts, "dims": st.none()}),
        st.fixed_dictionaries({"shifts": shifts, "dims": st.integers(-ndim, ndim - 1)}),
        dims.flatmap(lambda d: st.fixed_dictionaries({
            "shifts": st.lists(shifts, min_size=len(d), max_size=len(d)).map(tuple),
            "dims": st.just(tuple(d))})))


register(OpSpec("roll", ops.roll, lambda x, shifts, dims: np.roll(x, shifts, axis=dims),
                _one(), kwargs=_roll_kwargs))


@st.composite
def _stackable(draw, min_dims=0):
    """1 to 3 arrays of one shape but for their second axis (their first when 1-d)."""
    shape = list(draw(shapes(min_dims=min_dims, max_dims=3)))
    joined = 1 if len(shape) > 1 else 0
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        if shape:
            shape[joined] = draw(st.integers(1, 3))
        pieces.append(draw(arrays(tuple(shape))))
    return tuple(pieces)


@st.composite
def _vstackable(draw):
    shape = list(draw(shapes(max_dims=3)))
    pieces = []
    for _ in range(draw(st.integers(1, 3))):
        if len(shape) > 1:
            shape[0] = draw(st.integers(1, 3))
        pieces.append(draw(arrays(tuple(shape))))
    return tuple(pieces)


@st.composite
def _columns(draw):
    rows = draw(st.integers(1, 3))
    shapes_ = [draw(st.sampled_from([(rows,), (rows, draw(st.integers(1, 3)))]))
               for _ in range(draw(st.integers(1, 3)))]
    return tuple(draw(arrays(s)) for s in shapes_)


for name, reference, inputs in [("hstack", np.hstack, _stackable()),
                                ("vstack", np.vstack, _vstackable()),
                                ("column_stack", np.column_stack, _columns())]:
    register(OpSpec(name, getattr(ops, name), lambda *xs, reference=reference: reference(xs),
                    inputs, call=lambda *xs, name=name: getattr(ops, name)(xs)))


def _pad_pair(size: int, mode: str) -> st.SearchStrategy:
    """(before, after) for one axis: crops that leave an entry (any for constant), pads
    below the axis size for reflect, at most the size left after cropping for circular."""
    def valid(pair):
        before, after = pair
        remaining = size - max(-before, 0) - max(-after, 0)
        limit = {"reflect": size - 1, "circular": remaining}.get(mode, 2)
        return (remaining >= (mode != "constant") and size + before + after >= 0
                and max(before, after) <= limit)

    return st.tuples(st.integers(-size, 2), st.integers(-size, 2)).filter(valid)


def _pad_kwargs(arrays_):
    shape = arrays_[0].shape

    @st.composite
    def draw(draw_):
        mode = draw_(st.sampled_from(["constant", "reflect", "replicate", "circular"]))
        if mode == "constant":
            count = draw_(st.integers(0, len(shape)))
        else:  # the last 1 to 3 axes, after one or two leading ones
            count = len(shape) - draw_(st.integers(1, min(2, len(shape) - 1)))
        amounts = ()
        for axis in range(len(shape) - 1, len(shape) - 1 - min(count, 3), -1):
            amounts += draw_(_pad_pair(shape[axis], mode))
        value = draw_(floats(-2.0, 2.0)) if mode == "constant" else None
        return {"pad": amounts, "mode": mode, "value": value}

    return draw()


def _pad_reference(x, pad, mode, value):
    # negative amounts crop: after padding for reflect (it mirrors about the input's own
    # edges), before it for the others (circular wraps around what is left)
    window = [slice(None)] * x.ndim
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        axis, before, after = x.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]
        window[axis] = (max(-before, 0), max(-after, 0))
        widths[axis] = (max(before, 0), max(after, 0))

    def crop(array):
        return array[tuple(slice(w[0], array.shape[a] - w[1]) if isinstance(w, tuple) else w
                           for a, w in enumerate(window))]

    options = {"constant_values": value} if mode == "constant" else {}
    numpy_mode = {"replicate": "edge", "circular": "wrap"}.get(mode, mode)
    if mode == "reflect":
        return crop(np.pad(x, widths, mode=numpy_mode))
    return np.pad(crop(x), widths, mode=numpy_mode, **options)


# PyTorch's F.pad (ops.pad is the NumPy-style widths pad, in op_specs)
register(OpSpec("functional_pad", tiling.pad, _pad_reference, _one(shapes(min_dims=2, min_side=2)),
                kwargs=_pad_kwargs))


# --------------------------------------------------------------------------- products
EQUATIONS = [
    "ij,jk->ik", "ij,jk", "bij,bjk->bik", "ii->i", "ii", "iij->ji", "i,i->", "i,j->ij",
    "...ij,...jk->...ik", "ij->ji", "ij->", "ijk,ikl,lm->jm", "i,i,i->i", "ba,ab",
    "b...,...b->...",
]


@st.composite
def _einsum_operands(draw, equation: str):
    """One size per letter, broadcastable shapes under '...', and now and then a size-1 axis
    facing a longer one of the same letter (it broadcasts)."""
    terms = equation.split("->")[0].split(",")
    sizes = {c: draw(st.integers(1, 3)) for c in sorted(set(equation) - set(".,->"))}
    batches = draw(broadcastable_shapes(len(terms), max_dims=2, max_side=3))
    operands = []
    for term, batch in zip(terms, batches):
        left, ellipsis, right = term.partition("...")
        sides = [[sizes[c] if term.count(c) > 1 or draw(st.integers(0, 5)) else 1
                  for c in part] for part in (left, right)]
        shape = sides[0] + (list(batch) if ellipsis else []) + sides[1]
        operands.append(draw(arrays(tuple(shape))))
    return tuple(operands)


for _equation in EQUATIONS:
    register(OpSpec(f"einsum[{_equation}]", ops.einsum,
                    lambda *xs, equation=_equation: np.einsum(equation, *xs),
                    _einsum_operands(_equation),
                    call=lambda *xs, equation=_equation: ops.einsum(equation, *xs)))


@st.composite
def _products(draw, kind: str):
    """Operands of one named product, inner sizes matching; addmm's input broadcasts."""
    b, n, m, p = (draw(st.integers(1, 3)) for _ in range(4))
    shapes_ = {"mm": [(n, m), (m, p)], "bmm": [(b, n, m), (b, m, p)], "mv": [(n, m), (m,)],
               "dot": [(m,), (m,)], "outer": [(n,), (p,)],
               "addmm": [draw(st.sampled_from([(n, p), (p,), (1, p), ()])), (n, m), (m, p)],
               "baddbmm": [draw(st.sampled_from([(b, n, p), (n, p), (1, 1, p)])), (b, n, m),
                           (b, m, p)]}[kind]
    return tuple(draw(arrays(s)) for s in shapes_)


for _name, _reference in [("mm", np.matmul), ("bmm", np.matmul), ("mv", np.matmul),
                          ("dot", np.dot), ("outer", np.outer)]:
    register(OpSpec(_name, getattr(ops, _name), _reference, _products(_name)))
SCALES = st.fixed_dictionaries({"beta": st.sampled_from([1, 0, 0.5, -2.0]),
                                "alpha": st.sampled_from([1, 2.0, -0.5])})
for _name in ("addmm", "baddbmm"):
    register(OpSpec(_name, getattr(ops, _name),
                    lambda c, a, b, beta, alpha: beta * c + alpha * np.matmul(a, b),
                    _products(_name), kwargs=SCALES))


@st.composite
def _tensordot_inputs(draw):
    """a (free..., summed...) and b (summed..., free...)."""
    summed, a_free, b_free = (draw(st.lists(st.integers(1, 3), max_size=2)) for _ in range(3))
    return draw(arrays((*a_free, *summed))), draw(arrays((*summed, *b_free)))


def _tensordot_kwargs(arrays_):
    a, b = arrays_
    counts = [k for k in range(min(a.ndim, b.ndim) + 1) if a.shape[a.ndim - k:] == b.shape[:k]]

    @st.composite
    def draw(draw_):
        k = draw_(st.sampled_from(counts))
        if draw_(st.booleans()):
            return {"dims": k}
        order = draw_(st.permutations(range(k)))  # the pairs listed in any order
        return {"dims": ([a.ndim - k + i for i in order], list(order))}

    return draw()


register(OpSpec("tensordot", ops.tensordot, lambda a, b, dims: np.tensordot(a, b, axes=dims),
                _tensordot_inputs(), kwargs=_tensordot_kwargs))
