"""Tensor's in-place methods compute what PyTorch's do: add_/sub_ with alpha, mul_, copy_,
fill_, zero_ and item assignment, on tensors and on numbers, and return the tensor itself."""

import numpy as np
import pytest

import tinygen as tg

START = np.array([1.0, -2.0, 4.0])
OTHER = np.array([0.5, 3.0, -1.0])


@pytest.mark.parametrize(("method", "args", "expected"), [
    ("add_", (tg.tensor(OTHER),), START + OTHER),
    ("add_", (tg.tensor(OTHER), 3.0), START + 3.0 * OTHER),
    ("add_", (2.0,), START + 2.0),
    ("sub_", (tg.tensor(OTHER),), START - OTHER),
    ("sub_", (tg.tensor(OTHER), 3.0), START - 3.0 * OTHER),
    ("sub_", (2.0,), START - 2.0),
    ("mul_", (tg.tensor(OTHER),), START * OTHER),
    ("mul_", (-0.5,), START * -0.5),
    ("copy_", (tg.tensor(OTHER),), OTHER),
    ("fill_", (7.0,), np.full(3, 7.0)),
    ("zero_", (), np.zeros(3)),
])
def test_in_place_method_computes_the_documented_value(method, args, expected):
    t = tg.tensor(START.copy())
    result = getattr(t, method)(*args)

    assert result is t
    np.testing.assert_array_equal(t.numpy(), expected)


def test_item_assignment_writes_the_selected_entries():
    t = tg.tensor(START.copy())
    t[1] = 10.0
    t[np.array([0, 2])] = tg.tensor(np.array([-1.0, -3.0]))

    np.testing.assert_array_equal(t.numpy(), [-1.0, 10.0, -3.0])


def test_in_place_methods_on_a_parameter_work_under_no_grad():
    weight = tg.tensor(START.copy(), requires_grad=True)
    with tg.no_grad():
        weight.sub_(tg.tensor(OTHER), alpha=0.1)

    np.testing.assert_allclose(weight.numpy(), START - 0.1 * OTHER, rtol=1e-15)
