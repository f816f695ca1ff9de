"""A leaf's gradient has the leaf's dtype, as in PyTorch: through casts, and from the seed
gradient that backward() makes for a one-element output."""

import numpy as np
import pytest

import tinygen as tg


@pytest.mark.parametrize(("source", "target"), [(np.float64, np.float32),
                                                 (np.float32, np.float64)])
def test_a_cast_sends_the_gradient_back_in_the_inputs_dtype(source, target):
    x = tg.tensor(np.array([0.5, -1.5, 2.0], dtype=source), requires_grad=True)
    y = x.to(target)
    (y * y).sum().backward()

    assert y.dtype == target
    assert x.grad.dtype == source
    np.testing.assert_array_equal(x.grad.numpy(), np.array([1.0, -3.0, 4.0], dtype=source))


def test_a_cast_inside_a_graph_keeps_each_leafs_dtype():
    low = tg.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    high = tg.tensor(np.array([3.0, 4.0]), requires_grad=True)
    (low.double() * high).sum().backward()

    assert low.grad.dtype == np.float32 and high.grad.dtype == np.float64
    np.testing.assert_array_equal(low.grad.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(high.grad.numpy(), [1.0, 2.0])


def test_the_seed_gradient_of_a_float32_output_is_float32():
    x = tg.tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()

    assert loss.dtype == np.float32
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0, 6.0])
