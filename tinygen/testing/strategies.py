"""Hypothesis strategies for property tests of tinygen ops.

Shapes stay small by default (at most 3 axes of at most 4 entries), because every drawn
example is gradient-checked, and the interesting bugs (broadcasting, size-1 axes, repeated
indices) all show up at that size.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

#: Default element range: wide enough to exercise curvature, small enough that exp stays tame.
DEFAULT_BOUND = 3.0


def floats(min_value: float = -DEFAULT_BOUND, max_value: float = DEFAULT_BOUND,
           width: int = 64) -> st.SearchStrategy:
    """Finite floats in [min_value, max_value]."""
    return st.floats(min_value, max_value, allow_nan=False, allow_infinity=False, width=width)


def shapes(min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
           max_side: int = 4) -> st.SearchStrategy:
    """Array shapes (tuples of ints)."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                            max_side=max_side)


def arrays(shape=None, dtype=np.float64, elements=None) -> st.SearchStrategy:
    """NumPy arrays.

    Args:
        shape: a shape tuple, or a strategy of shapes (default: :func:`shapes`).
        dtype: the array dtype (default float64).
        elements: a strategy of entries (default: finite floats in [-3, 3] for float dtypes,
            hypothesis' choice for the others).

    Returns:
        A strategy of ``numpy.ndarray``.
    """
    dtype = np.dtype(dtype)
    if shape is None:
        shape = shapes()
    if elements is None and dtype.kind == "f":
        elements = floats(width=8 * dtype.itemsize)
    return hnp.arrays(dtype, shape, elements=elements)


def broadcastable_shapes(n: int, min_dims: int = 0, max_dims: int = 3, min_side: int = 1,
                         max_side: int = 4) -> st.SearchStrategy:
    """``n`` shapes that broadcast together (NumPy rules), as a tuple of tuples.

    Size-1 axes and missing leading axes are drawn often, so the gradient reduction of
    broadcasting ops is exercised.
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=min_side,
        max_side=max_side,
    ).map(lambda drawn: tuple(drawn.input_shapes))


def away_from_kinks(kinks=(0.0,), margin: float = 0.1, min_value: float = -DEFAULT_BOUND,
                    max_value: float = DEFAULT_BOUND) -> st.SearchStrategy:
    """Floats in [min_value, max_value] at least ``margin`` from every kink.

    A value drawn inside a kink's margin is pushed to its edge (not rejected), so the edges,
    where a finite difference is most likely to straddle the kink, are drawn often.

    Args:
        kinks: the points where the function is not differentiable (relu, abs: 0).
        margin: the distance kept; it must exceed the finite-difference step by far.
        min_value, max_value: the range.

    Returns:
        A strategy of floats.
    """
    kinks = tuple(float(k) for k in kinks)

    def push(value: float) -> float:
        for kink in kinks:
            if abs(value - kink) < margin:
                return kink + math.copysign(margin, value - kink)
        return value

    def far_enough(value: float) -> bool:
        return min_value <= value <= max_value and all(abs(value - k) >= margin for k in kinks)

    return floats(min_value, max_value).map(push).filter(far_enough)


def separated_floats(group: int, groups: int = 2, gap: float = 0.2, spacing: float = 1.0,
                     min_value: float = -DEFAULT_BOUND,
                     max_value: float = DEFAULT_BOUND) -> st.SearchStrategy:
    """Floats from one of ``groups`` interleaved families; families stay ``gap`` apart.

    The real line is cut into cells of width ``spacing``; cell number c belongs to group
    ``c % groups`` and only its first ``spacing - gap`` is used. Two floats drawn from
    different groups therefore never come within ``gap`` of each other: operands of
    ``maximum``/``minimum`` drawn this way never tie, whatever the broadcasting pairs up.

    Returns:
        A strategy of floats in [min_value, max_value].
    """
    if not 0 <= group < groups or not 0 < gap < spacing:
        raise ValueError(f"separated_floats: need 0 <= group < groups and 0 < gap < spacing, "
                         f"got group={group}, groups={groups}, gap={gap}, spacing={spacing}")
    period = groups * spacing
    offset = group * spacing
    first = math.ceil((min_value - offset) / period)
    last = math.floor((max_value - offset - (spacing - gap)) / period)
    if last < first:
        raise ValueError(f"separated_floats: [{min_value}, {max_value}] holds no cell of "
                         f"group {group}")
    return st.builds(
        lambda cell, within: cell * period + offset + within,
        st.integers(first, last), floats(0.0, spacing - gap),
    )


@st.composite
def distinct_arrays(draw, shape=None, gap: float = 0.1) -> np.ndarray:
    """float64 arrays whose entries are pairwise at least ``gap`` apart (no ties).

    Reductions such as max and min have a kink wherever two entries tie; these arrays keep
    every pair apart, in a random order, whatever axis is reduced.
    """
    if shape is None:
        shape = shapes()
    if isinstance(shape, st.SearchStrategy):
        shape = draw(shape)
    size = math.prod(shape)
    order = np.array(draw(st.permutations(range(size))), dtype=np.float64)
    jitter = draw(arrays((size,), elements=floats(0.0, gap)))
    # entries 2*gap apart before a jitter of at most gap: neighbours stay >= gap apart
    values = (order - size / 2) * (2 * gap) + jitter
    return values.reshape(shape)


def reduction_axes(ndim: int) -> st.SearchStrategy:
    """``axis`` arguments for a reduction over ``ndim`` axes: None, an int, or a tuple."""
    options = [st.none(), hnp.valid_tuple_axes(ndim)]
    if ndim > 0:
        options.append(st.integers(-ndim, ndim - 1))
    return st.one_of(*options)
