"""The gradient exactly at a kink follows PyTorch's convention, checked without torch.

A piecewise function's derivative is undefined where its pieces meet; PyTorch picks a value
there, and programs ported from it depend on that choice (a relu unit at exactly 0 stays
dead). The registry draws inputs away from the kinks, so each convention is written out
here with its expected gradient; tests/parity/test_math_parity.py checks the same points
against torch itself.
"""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F


def _input_grad(op, values):
    x = tg.tensor(np.array(values), requires_grad=True)
    op(x).sum().backward()
    return x.grad.numpy()


@pytest.mark.parametrize(("name", "op", "values", "expected"), [
    # |x|' = sign(x), 0 at 0
    ("abs", tg.abs, [-1.0, 0.0, 2.0], [-1.0, 0.0, 1.0]),
    # relu' = [x > 0]: 0 at 0
    ("relu", F.relu, [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0]),
    # relu6' = [0 < x < 6]: 0 at both edges
    ("relu6", F.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    # hardtanh' = [min < x < max]: 0 at both edges
    ("hardtanh", F.hardtanh, [-2.0, -1.0, 0.0, 1.0, 2.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    ("hardtanh_custom", lambda x: F.hardtanh(x, -0.5, 2.0), [-0.5, 0.0, 2.0, 3.0],
     [0.0, 1.0, 0.0, 0.0]),
    # hardsigmoid' = [-3 < x < 3] / 6: 0 at both edges
    ("hardsigmoid", F.hardsigmoid, [-4.0, -3.0, 0.0, 3.0, 4.0], [0.0, 0.0, 1 / 6, 0.0, 0.0]),
    # leaky_relu' = 1 if x > 0 else the slope: the slope at 0
    ("leaky_relu", lambda x: F.leaky_relu(x, 0.2), [-1.0, 0.0, 2.0], [0.2, 0.2, 1.0]),
    # elu' = alpha e^x for x <= 0 (1 at 0 for alpha 1), 1 for x > 0
    ("elu", F.elu, [-1.0, 0.0, 2.0], [math.exp(-1.0), 1.0, 1.0]),
    # celu' = e^(x/alpha) for x <= 0: 1 at 0
    ("celu", lambda x: F.celu(x, 2.0), [-1.0, 0.0, 2.0], [math.exp(-0.5), 1.0, 1.0]),
    # clamp' = [min <= x <= max]: 1 at both bounds
    ("clamp", lambda x: tg.clamp(x, -1.0, 1.0), [-2.0, -1.0, 0.0, 1.0, 2.0],
     [0.0, 1.0, 1.0, 1.0, 0.0]),
    ("clamp_min", lambda x: tg.clamp(x, min=0.0), [-1.0, 0.0, 1.0], [0.0, 1.0, 1.0]),
    # sign is piecewise constant: 0 everywhere, its jump included
    ("sign", tg.sign, [-1.0, 0.0, 2.0], [0.0, 0.0, 0.0]),
])
def test_gradient_at_the_kink_follows_pytorchs_convention(name, op, values, expected):
    np.testing.assert_allclose(_input_grad(op, values), expected, rtol=1e-15, atol=0)


@pytest.mark.parametrize(("op", "expected"), [
    (tg.abs, [-1.0, 0.0, 1.0, 1.0]),
    (F.relu, [0.0, 0.0, 1.0, 1.0]),
    (F.hardtanh, [0.0, 1.0, 0.0, 0.0]),
], ids=["abs", "relu", "hardtanh"])
def test_the_kink_convention_holds_in_float32(op, expected):
    x = tg.tensor(np.array([-1.0, 0.0, 1.0, 2.0], dtype=np.float32), requires_grad=True)
    op(x).sum().backward()

    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad.numpy(), expected)
