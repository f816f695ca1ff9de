"""Reductions, scans and norms: the properties beyond the registry's value and gradient
checks (zeros in prod, ties in max, empty and 0-d inputs, the norm at zero, errors)."""

import math

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import grad, gradgradcheck


def _leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def _gradient(y, x):
    (gx,) = grad(y.sum(), [x])
    return gx.numpy()


# --------------------------------------------------------------------------- prod
def test_prod_gradient_at_a_single_zero_is_the_product_of_the_others():
    x = _leaf([2.0, 0.0, 3.0, 4.0, -1.0])

    gx = _gradient(tg.prod(x), x)

    np.testing.assert_array_equal(gx, [0.0, -24.0, 0.0, 0.0, 0.0])


def test_prod_gradient_with_two_zeros_is_zero_everywhere():
    x = _leaf([[2.0, 0.0, 3.0], [0.0, 5.0, 0.0]])

    gx = _gradient(tg.prod(x, dim=1), x)

    np.testing.assert_array_equal(gx, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0]])


@pytest.mark.parametrize("values", [[0.0, 0.0, 2.0], [0.0, 1.5, -2.0, 3.0, 0.5], [0.0]])
def test_prod_second_derivatives_are_exact_with_zeros(values):
    x = _leaf(values)
    assert gradgradcheck(lambda t: tg.prod(t), [x], mode="full")


def test_prod_of_an_empty_axis_is_one_and_of_ints_is_int64():
    assert tg.prod(tg.zeros(0, 3), dim=0).tolist() == [1.0, 1.0, 1.0]
    ints = tg.tensor(np.array([2, 3], dtype=np.int32))
    assert tg.prod(ints).item() == 6 and tg.prod(ints).dtype == np.int64
    assert tg.prod(ints, dtype=np.float64).dtype == np.float64


def test_prod_takes_one_int_dim_as_pytorch():
    with pytest.raises(TypeError, match=r"prod: dim must be an int or None, got \(0, 1\)"):
        tg.prod(tg.ones(2, 2), dim=(0, 1))


# --------------------------------------------------------------------------- scans
def test_cumsum_gradient_sums_the_upstream_gradient_from_the_far_end():
    x = _leaf([1.0, 2.0, 3.0])
    (gx,) = grad(tg.cumsum(x, 0), [x], [tg.tensor(np.array([1.0, 10.0, 100.0]))])
    np.testing.assert_array_equal(gx.numpy(), [111.0, 110.0, 100.0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_logcumsumexp_is_finite_and_exact_for_widely_spread_inputs(dtype):
    values = np.array([-1000.0, 0.0, -1000.0, 1e4, 1e4], dtype=dtype)
    x = _leaf(values, dtype)

    y = tg.logcumsumexp(x, 0)
    gx = _gradient(y, x)

    np.testing.assert_allclose(y.numpy(), np.logaddexp.accumulate(values.astype(np.float64)),
                               rtol=1e-6)
    assert np.all(np.isfinite(gx))
    # dy_i/dx_j = softmax of x_0..x_i at j, summed over i >= j: y_0 = x_0, x_1 dominates
    # y_1 and y_2, x_3 alone dominates y_3 and shares y_4 with x_4
    np.testing.assert_allclose(gx, [1.0, 2.0, 0.0, 1.5, 0.5], atol=1e-6)


def test_scans_of_a_0d_tensor_return_it_for_dim_0_and_minus_1():
    x = tg.tensor(3.0)
    for dim in (0, -1):
        assert tg.cumsum(x, dim).item() == 3.0 and tg.logcumsumexp(x, dim).item() == 3.0
    with pytest.raises(IndexError, match=r"cumsum: dim must be an int in \[-1, 0\], got 1"):
        tg.cumsum(x, 1)


# --------------------------------------------------------------------------- max and min
def test_max_with_dim_sends_the_gradient_to_the_returned_index_only():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])

    values, indices = tg.max(x, dim=1)
    gx = _gradient(values, x)

    assert indices.tolist() == [1, 0]
    np.testing.assert_array_equal(gx, [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    # amax shares the gradient among the ties instead
    np.testing.assert_allclose(_gradient(tg.amax(x, dim=1), x),
                               [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])


def test_min_with_dim_keepdim_and_on_a_0d_tensor():
    x = _leaf([[4.0, 1.0], [0.5, 7.0]])
    values, indices = x.min(dim=0, keepdim=True)
    assert values.tolist() == [[0.5, 1.0]] and indices.tolist() == [[1, 0]]
    scalar_values, scalar_index = tg.tensor(2.0).max(dim=-1)
    assert scalar_values.item() == 2.0 and scalar_index.item() == 0


def test_max_over_an_empty_dim_raises_index_error():
    with pytest.raises(IndexError, match="max: cannot reduce the empty dim 0"):
        tg.zeros(0, 2).max(dim=0)
    with pytest.raises(IndexError, match="amax: cannot reduce an empty axis"):
        tg.amax(tg.zeros(0, 2), dim=0)
    assert tg.amax(tg.zeros(0, 2), dim=1).shape == (0,)


# --------------------------------------------------------------------------- empty and 0-d
def test_mean_of_nothing_is_nan_and_sum_is_zero_as_pytorch():
    empty = tg.zeros(0, 3)
    assert math.isnan(empty.mean().item())
    assert np.isnan(empty.mean(dim=0).numpy()).all() and empty.mean(dim=0).shape == (3,)
    assert empty.sum(dim=0).tolist() == [0.0, 0.0, 0.0]
    assert tg.logsumexp(tg.zeros(2, 0), 1).tolist() == [-math.inf, -math.inf]


def test_var_reads_a_bool_second_argument_as_unbiased_as_pytorch():
    x = tg.tensor([1.0, 2.0, 4.0])
    assert x.var(False).item() == pytest.approx(np.var([1.0, 2.0, 4.0]))
    assert tg.std(x, True).item() == pytest.approx(np.std([1.0, 2.0, 4.0], ddof=1))
    assert [t.shape for t in tg.var_mean(x, False)] == [(), ()]


def test_softmax_of_an_empty_tensor_is_empty():
    assert tg.softmax(tg.zeros(5, 0, 0), -1).shape == (5, 0, 0)
    assert tg.log_softmax(tg.zeros(2, 0), 1).shape == (2, 0)


def test_var_without_degrees_of_freedom_is_nan_or_inf_as_pytorch():
    assert math.isnan(tg.tensor([1.5]).var().item())
    assert tg.tensor([1.0, 2.0]).var(correction=2).item() == math.inf
    assert math.isnan(tg.tensor([1.0, 1.0]).var(correction=3).item())


@pytest.mark.parametrize("name", ["sum", "mean", "amax", "logsumexp", "prod"])
def test_a_0d_tensor_reduces_over_dim_0_or_minus_1(name):
    x = tg.tensor(3.0)
    for dim in (0, -1):
        assert getattr(tg, name)(x, dim).item() == 3.0
    with pytest.raises(IndexError, match=r"dim must be an int in \[-1, 0\], got 1"):
        getattr(tg, name)(x, 1)


def test_dim_as_an_empty_tuple_reduces_every_axis_as_pytorch():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    assert x.sum(dim=()).item() == 15.0 and x.mean(dim=()).item() == 2.5


def test_a_dim_out_of_range_raises_index_error_naming_the_op():
    with pytest.raises(IndexError, match=r"sum: dim must be an int in \[-2, 1\], got 2"):
        tg.ones(2, 3).sum(dim=2)


# --------------------------------------------------------------------------- norms
@pytest.mark.parametrize("p", [2, 1, 3, 0.5, math.inf])
def test_norm_gradient_is_zero_where_the_norm_is_zero(p):
    x = _leaf([0.0, 0.0, 0.0])
    np.testing.assert_array_equal(_gradient(tg.norm(x, p), x), [0.0, 0.0, 0.0])


def test_two_norm_second_derivative_is_exact_at_a_zero_entry():
    # the gradient-penalty case: d/dx (x / |x|) must keep its 1/|x| term at x_i = 0
    x = _leaf([0.0, 3.0, -4.0])
    assert gradgradcheck(lambda t: tg.linalg.vector_norm(t), [x], mode="full")


def test_norm_follows_torch_norm_dispatch():
    x = tg.tensor(np.array([[3.0, -4.0], [0.0, 12.0]]))
    assert x.norm().item() == 13.0
    assert x.norm(1).item() == 19.0 and x.norm(math.inf).item() == 12.0
    assert x.norm(dim=1).tolist() == [5.0, 12.0]
    assert tg.linalg.matrix_norm(x, 1).item() == 16.0  # the largest column sum of |x|
    assert tg.linalg.norm(x, math.inf).item() == 12.0  # a matrix norm: the largest row sum
    assert x.norm("nuc").item() == pytest.approx(np.linalg.norm(x.numpy(), "nuc"), rel=1e-12)


def test_vector_norm_rejects_integer_tensors_and_inf_norms_of_nothing():
    with pytest.raises(TypeError, match="vector_norm: x must be a floating tensor, got dtype"):
        tg.linalg.vector_norm(tg.tensor([1, 2]))
    with pytest.raises(ValueError, match="vector_norm: the inf norm of an empty tensor"):
        tg.linalg.vector_norm(tg.zeros(0), math.inf)
    assert tg.linalg.vector_norm(tg.zeros(0)).item() == 0.0
