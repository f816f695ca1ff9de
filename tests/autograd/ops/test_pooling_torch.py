"""Pooling beside PyTorch on random and tie-heavy inputs: values, indices, gradients.

The geometries of a CNN's pools (2x2, 3x3 stride 2, 3x3 stride 1 padding 1) and rectangular
ones, on inputs drawn from {0, 1} (ties everywhere), with NaN and -inf mixed in, and on
normal draws. The upstream gradient differs per output entry, so a share sent to the wrong
tap shows; max pooling's gradients are then exact sums of the same numbers in both.
"""

import math

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional
pytestmark = pytest.mark.parity

MAX_GEOMETRIES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2},
    {"kernel_size": 3, "stride": 1, "padding": 1},
    {"kernel_size": (2, 3), "stride": (1, 2)},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2},
    {"kernel_size": (1, 3), "stride": (3, 1)},
    {"kernel_size": 2, "ceil_mode": True},
    {"kernel_size": (1, 2), "stride": (1, 4)},
]
AVG_GEOMETRIES = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2},
    {"kernel_size": 3, "stride": 1, "padding": 1},
    {"kernel_size": 3, "stride": 1, "padding": 1, "count_include_pad": False},
    {"kernel_size": (2, 3), "stride": (1, 2), "ceil_mode": True},
    {"kernel_size": (3, 2), "stride": (2, 1), "padding": (1, 1), "ceil_mode": True,
     "count_include_pad": False},
    {"kernel_size": 2, "divisor_override": 3},
    {"kernel_size": (9, 8)},
    {"kernel_size": (1, 2), "stride": (1, 4)},
    {"kernel_size": (3, 2), "stride": (2, 4), "padding": (1, 0), "ceil_mode": True},
]


def _input(kind: str, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "normal":
        return rng.standard_normal((2, 3, 9, 8))
    values = {"ties": [0.0, 1.0], "nan": [0.0, 1.0, math.nan], "-inf": [0.0, -math.inf]}[kind]
    return rng.choice(values, size=(2, 3, 9, 8))


def _both(ours, theirs, x_values):
    """(tinygen, torch): each a list of the outputs and the input's gradient."""
    results = []
    for library, fn in ((tg, ours), (torch, theirs)):
        x = library.tensor(x_values, requires_grad=True)
        outputs = fn(x)
        outputs = outputs if isinstance(outputs, tuple) else (outputs,)
        upstream = 2.0 ** -np.arange(outputs[0].numel()).reshape(tuple(outputs[0].shape))
        outputs[0].backward(library.tensor(upstream))
        results.append([o.detach().numpy() for o in outputs] + [x.grad.numpy()])
    return results


@pytest.mark.parametrize("kind", ["normal", "ties", "nan", "-inf"])
@pytest.mark.parametrize("kwargs", MAX_GEOMETRIES)
def test_max_pool2d_values_indices_and_gradients_match_torch(kwargs, kind):
    ours, theirs = _both(lambda t: F.max_pool2d(t, return_indices=True, **kwargs),
                         lambda t: TF.max_pool2d(t, return_indices=True, **kwargs),
                         _input(kind, seed=len(str(kwargs))))

    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine, reference)


@pytest.mark.parametrize("kwargs", AVG_GEOMETRIES)
def test_avg_pool2d_values_and_gradients_match_torch(kwargs):
    ours, theirs = _both(lambda t: F.avg_pool2d(t, **kwargs),
                         lambda t: TF.avg_pool2d(t, **kwargs), _input("normal", seed=1))

    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("output_size", [1, (3, 4), 7, (2, None)])
@pytest.mark.parametrize("kind", ["normal", "ties", "nan"])
def test_adaptive_max_pool2d_matches_torch_on_ties_and_nans(output_size, kind):
    ours, theirs = _both(
        lambda t: F.adaptive_max_pool2d(t, output_size, return_indices=True),
        lambda t: TF.adaptive_max_pool2d(t, output_size, return_indices=True),
        _input(kind, seed=2))

    for mine, reference in zip(ours, theirs):
        np.testing.assert_array_equal(mine, reference)


@pytest.mark.parametrize("output_size", [1, (3, 4), 7, (9, 2)])
def test_adaptive_avg_pool2d_matches_torch(output_size):
    ours, theirs = _both(lambda t: F.adaptive_avg_pool2d(t, output_size),
                         lambda t: TF.adaptive_avg_pool2d(t, output_size),
                         _input("normal", seed=3))

    for mine, reference in zip(ours, theirs):
        np.testing.assert_allclose(mine, reference, rtol=1e-12, atol=1e-15)
