"""Specs for the ops with no gradient (``tinygen.autograd.ops.comparison``): comparisons,
tests, logical ops and arg-reductions. Order 0: the registry checks the forward against NumPy
and that the result is a constant cut from the graph."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from tinygen.autograd import ops
from tinygen.testing.registry import OpSpec, register
from tinygen.testing.strategies import arrays, broadcastable_shapes, floats, shapes

# a few repeated values, so that equal entries (and ties for argmax) are drawn often
COARSE = st.sampled_from([-2.0, -1.0, 0.0, 0.5, 1.0])
SPECIAL = st.sampled_from([0.0, 1.5, -2.0, np.nan, np.inf, -np.inf])


def _pair(elements):
    return broadcastable_shapes(2).flatmap(
        lambda pair: st.tuples(*(arrays(s, elements=elements) for s in pair)))


for name, reference in [("eq", np.equal), ("ne", np.not_equal), ("lt", np.less),
                        ("le", np.less_equal), ("gt", np.greater),
                        ("ge", np.greater_equal)]:
    register(OpSpec(name, getattr(ops, name), reference, _pair(COARSE), order=0))

for name, reference in [("isnan", np.isnan), ("isinf", np.isinf), ("isfinite", np.isfinite)]:
    register(OpSpec(name, getattr(ops, name), reference,
                    st.tuples(arrays(elements=SPECIAL)), order=0))

BOOLS = broadcastable_shapes(2).flatmap(
    lambda pair: st.tuples(*(arrays(s, dtype=np.bool_) for s in pair)))
register(OpSpec("logical_not", ops.logical_not, np.logical_not,
                st.tuples(arrays(dtype=np.bool_)), order=0))
register(OpSpec("logical_and", ops.logical_and, np.logical_and, BOOLS, order=0))
register(OpSpec("logical_or", ops.logical_or, np.logical_or, BOOLS, order=0))


def _dim_keepdim(arrays_):
    ndim = arrays_[0].ndim
    dims = st.none() if ndim == 0 else st.one_of(st.none(), st.integers(-ndim, ndim - 1))
    return st.fixed_dictionaries({"dim": dims, "keepdim": st.booleans()})


def _reduce_reference(reduce):
    def reference(x, dim, keepdim):
        return reduce(x, axis=dim, keepdims=keepdim)
    return reference


def _arg_reference(pick):
    def reference(x, dim, keepdim):
        if dim is None:  # the index into the flattened tensor
            index = pick(x.reshape(-1))
            return np.reshape(index, (1,) * x.ndim) if keepdim else np.int64(index)
        return pick(x, axis=dim, keepdims=keepdim).astype(np.int64)
    return reference


register(OpSpec("all", ops.all, _reduce_reference(np.all), st.tuples(arrays(dtype=np.bool_)),
                kwargs=_dim_keepdim, order=0))
register(OpSpec("any", ops.any, _reduce_reference(np.any), st.tuples(arrays(dtype=np.bool_)),
                kwargs=_dim_keepdim, order=0))
NONEMPTY = st.tuples(arrays(shapes(), elements=floats(-3.0, 3.0) | COARSE))
register(OpSpec("argmax", ops.argmax, _arg_reference(np.argmax), NONEMPTY,
                kwargs=_dim_keepdim, order=0))
register(OpSpec("argmin", ops.argmin, _arg_reference(np.argmin), NONEMPTY,
                kwargs=_dim_keepdim, order=0))
