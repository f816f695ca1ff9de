"""The matrix norms over singular values ('nuc', 2, -2) in torch.norm, linalg.norm and
linalg.matrix_norm: values, keepdim, empty matrices and the subgradients PyTorch picks."""

import math

import numpy as np
import pytest

import tinygen as tg

RNG = np.random.default_rng(11)


def _leaf(array):
    return tg.tensor(np.asarray(array, dtype=np.float64), requires_grad=True)


@pytest.mark.parametrize("ord", ["nuc", 2, -2])
@pytest.mark.parametrize("dim", [(-2, -1), (-1, -2), (0, 2)])
@pytest.mark.parametrize("keepdim", [False, True])
def test_singular_value_norms_match_numpy_over_any_two_axes(ord, dim, keepdim):
    a = RNG.standard_normal((3, 2, 4))

    result = tg.linalg.matrix_norm(tg.tensor(a), ord, dim, keepdim)

    np.testing.assert_allclose(result.numpy(), np.linalg.norm(a, ord, dim, keepdim),
                               rtol=1e-12)


def test_every_entry_point_reaches_the_nuclear_norm():
    a = RNG.standard_normal((3, 4))
    x = tg.tensor(a)
    expected = np.linalg.svd(a, compute_uv=False).sum()

    for result in (tg.norm(x, "nuc"), x.norm("nuc"), tg.linalg.norm(x, "nuc"),
                   tg.linalg.matrix_norm(x, "nuc"), tg.norm(x, "nuc", (1, 0))):
        assert result.shape == ()
        assert result.item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (2, 0, 3)])
def test_empty_matrices_have_nuclear_and_two_norm_zero_and_no_smallest_value(shape):
    x = _leaf(np.zeros(shape))

    nuclear, largest = tg.linalg.matrix_norm(x, "nuc"), tg.linalg.matrix_norm(x, 2)
    (nuclear + largest).sum().backward()

    assert nuclear.tolist() == largest.tolist() == np.zeros(shape[:-2]).tolist()
    assert x.grad.shape == shape
    with pytest.raises(IndexError, match=r"matrix_norm: ord=-2 .* of an empty matrix"):
        tg.linalg.matrix_norm(x, -2)


def test_norms_of_a_batch_with_no_matrices_are_empty():
    x = tg.zeros(0, 3, 3)

    assert [tg.linalg.matrix_norm(x, o, keepdim=True).shape for o in ("nuc", 2, -2)] == \
        [(0, 1, 1)] * 3


def test_nuclear_norm_subgradient_at_zero_is_an_orthogonal_u_vh():
    x = _leaf(np.zeros((3, 3)))

    tg.linalg.matrix_norm(x, "nuc").backward()

    g = x.grad.numpy()
    np.testing.assert_allclose(g @ g.T, np.eye(3), atol=1e-12)


def test_two_norm_shares_the_gradient_between_tied_largest_singular_values():
    # 3 I: both singular values are 3; amax splits the gradient, U diag(1/2, 1/2) Vh = I/2
    x = _leaf(3.0 * np.eye(2))

    tg.linalg.matrix_norm(x, 2).backward()

    np.testing.assert_allclose(x.grad.numpy(), 0.5 * np.eye(2), atol=1e-12)


def test_singular_value_norms_cast_to_dtype_first():
    x = tg.tensor(RNG.standard_normal((2, 3)).astype(np.float32))

    result = tg.linalg.matrix_norm(x, 2, dtype=np.float64)

    assert result.dtype == np.float64
    assert result.item() == pytest.approx(np.linalg.norm(x.numpy().astype(np.float64), 2),
                                          rel=1e-12)


def test_linalg_norm_with_singular_value_orders_needs_a_matrix():
    with pytest.raises(ValueError, match="norm: with ord=2 and no dim, x must be 1-d or 2-d"):
        tg.linalg.norm(tg.ones(2, 2, 2), 2)
    with pytest.raises(ValueError, match="norm: ord='nuc' is a matrix norm, but dim -1"):
        tg.linalg.norm(tg.ones(2, 2), "nuc", -1)
    assert tg.linalg.norm(tg.tensor([3.0, -4.0]), 2).item() == 5.0  # a vector's 2-norm
    assert tg.linalg.norm(tg.tensor([3.0, -4.0]), -math.inf).item() == 3.0
