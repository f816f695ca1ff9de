"""Invariants of every registered op, on Hypothesis-drawn inputs.

- forward and backward leave the input arrays and the upstream gradient untouched;
- each leaf's .grad has the leaf's shape and dtype, owns its memory, and shares it with no
  other leaf's gradient, no upstream gradient and no input.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen as tg
from tinygen.testing import all_specs

SPECS = [spec for spec in all_specs() if spec.order > 0]  # ops with a gradient


def _outputs(result) -> tuple:
    """The differentiable outputs (max(x, dim) also returns indices, which have none)."""
    outputs = result if isinstance(result, tuple) else (result,)
    return tuple(y for y in outputs if y.requires_grad)


@pytest.mark.parametrize("create_graph", [False, True], ids=["first_order", "create_graph"])
@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
@settings(deadline=None)
@given(data=st.data())
def test_backward_mutates_nothing_and_gradients_do_not_alias(spec, create_graph, data):
    case = data.draw(spec.cases(), label="case")
    tensors = case.tensors()
    inputs_before = [t.numpy().copy() for t in tensors]
    outputs = _outputs(spec.apply(tensors, case.kwargs))
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))
    upstream = [rng.standard_normal(y.shape).astype(y.dtype) for y in outputs]
    upstream_before = [g.copy() for g in upstream]

    tg.autograd.backward(list(outputs), [tg.tensor(g) for g in upstream],
                         create_graph=create_graph)

    for tensor, before in zip(tensors, inputs_before):
        np.testing.assert_array_equal(tensor.numpy(), before)
    for gradient, before in zip(upstream, upstream_before):
        np.testing.assert_array_equal(gradient, before)
    leaves = [t for t in tensors if t.requires_grad]
    for position, tensor in enumerate(leaves):
        grad = tensor.grad.data
        assert grad.shape == tensor.shape and grad.dtype == tensor.dtype
        others = [other.grad.data for other in leaves[position + 1:]]
        for array in [*others, *upstream, *(t.data for t in tensors)]:
            assert not np.shares_memory(grad, array)
