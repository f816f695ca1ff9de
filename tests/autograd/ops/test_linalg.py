"""Products: einsum's equation rules (implicit output, ellipsis, repeated letters,
broadcasting) and gradients, and the named products' checks, beyond the registry's."""

import math

import numpy as np
import pytest

import tinygen as tg
from tinygen.autograd import grad, gradgradcheck


def _leaf(values):
    return tg.tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def _random(*shape, seed=0):
    return _leaf(np.random.default_rng(seed).standard_normal(shape))


# --------------------------------------------------------------------------- einsum
def test_einsum_implicit_output_is_the_letters_used_once_in_order():
    a, b = tg.ones(2, 3), tg.ones(3, 4)
    assert tg.einsum("ij,jk", a, b).shape == (2, 4)
    assert tg.einsum("ba", a).shape == (3, 2)  # output "ab": a transpose
    assert tg.einsum("Ab,bc", tg.ones(2, 3), tg.ones(3, 5)).shape == (2, 5)
    assert tg.einsum("ij,jk", [a, b]).shape == (2, 4)  # operands as one list
    assert tg.einsum(" i j , j k -> i k ", a, b).shape == (2, 4)


def test_einsum_trace_gradient_is_the_identity():
    x = _random(3, 3)
    (gx,) = grad(tg.einsum("ii", x), [x])
    np.testing.assert_array_equal(gx.numpy(), np.eye(3))


def test_einsum_diagonal_and_broadcast_letters_are_twice_differentiable():
    x, v = _random(2, 3, 3), _random(3, seed=1)
    assert gradgradcheck(lambda a, b: tg.einsum("bii,i->bi", a, b), [x, v], mode="full")
    row = _random(2, 1, seed=2)
    assert gradgradcheck(lambda a, b: tg.einsum("ij,ij->ij", a, b), [row, _random(2, 3)],
                         mode="full")


def test_einsum_sums_ellipsis_axes_the_output_leaves_out_as_pytorch():
    x = tg.ones(2, 3, 4)
    assert tg.einsum("i...->i", x).tolist() == [12.0, 12.0]
    assert tg.einsum("...->", tg.ones(2, 3)).item() == 6.0
    assert tg.einsum("...ij,...jk", tg.ones(5, 1, 2, 3), tg.ones(4, 3, 2)).shape == (5, 4, 2, 2)


def test_einsum_broadcasts_a_size_1_letter_to_size_0():
    assert tg.einsum("i,i->i", tg.ones(1), tg.zeros(0)).shape == (0,)
    assert tg.einsum("i->", tg.zeros(0)).item() == 0.0


def test_einsum_errors_name_the_equation_problem():
    a = tg.ones(2, 3)
    with pytest.raises(ValueError, match="einsum: the equation 'ij' names 1 operands, got 2"):
        tg.einsum("ij", a, a)
    with pytest.raises(ValueError, match="einsum: output subscript 'q' must appear once"):
        tg.einsum("ij->q", a)
    with pytest.raises(ValueError, match="einsum: output subscript 'i' must appear once"):
        tg.einsum("ij->ii", a)
    with pytest.raises(ValueError, match=r"einsum: subscripts 'ijk' do not fit operand"):
        tg.einsum("ijk", a)
    with pytest.raises(ValueError, match="einsum: letter 'i' repeats in 'ii' over axes of"):
        tg.einsum("ii->i", a)
    with pytest.raises(ValueError, match="einsum: letter 'j' has sizes 3 and 2"):
        tg.einsum("ij,jk->ik", a, tg.ones(2, 2))
    with pytest.raises(ValueError, match="einsum: subscripts must be letters"):
        tg.einsum("i1->i", a)


# --------------------------------------------------------------------------- named products
def test_named_products_check_their_operands_dimensions():
    with pytest.raises(ValueError, match=r"mm: shapes \(2, 3\) and \(2, 3\) cannot be"):
        tg.mm(tg.ones(2, 3), tg.ones(2, 3))
    with pytest.raises(ValueError, match="bmm: batch sizes differ"):
        tg.bmm(tg.ones(2, 2, 3), tg.ones(1, 3, 2))
    with pytest.raises(ValueError, match=r"dot: tensor must be a 1-d tensor, got shape \(2, 1\)"):
        tg.dot(tg.ones(2), tg.ones(2, 1))
    with pytest.raises(ValueError, match="outer: vec2 must be a 1-d tensor"):
        tg.outer(tg.ones(2), tg.ones(3, 1))


def test_dot_mv_outer_shapes():
    assert tg.dot(tg.ones(3), tg.ones(3)).shape == ()
    assert tg.mv(tg.ones(2, 3), tg.ones(3)).shape == (2,)
    assert tg.outer(tg.ones(2), tg.ones(3)).shape == (2, 3)


def test_addmm_with_beta_zero_ignores_input_even_nan():
    y = tg.addmm(tg.tensor(math.nan), tg.ones(2, 3), tg.ones(3, 2), beta=0)
    assert y.tolist() == [[3.0, 3.0], [3.0, 3.0]]
    bias = tg.tensor([1.0, 2.0])
    assert bias.addmm(tg.ones(2, 3), tg.ones(3, 2), alpha=2).tolist() == [[7.0, 8.0]] * 2
    with pytest.raises(ValueError, match=r"addmm: input of shape \(3,\) does not broadcast"):
        tg.addmm(tg.ones(3), tg.ones(2, 3), tg.ones(3, 2))


def test_tensordot_takes_a_count_or_two_lists_of_axes():
    a, b = tg.ones(2, 3, 4), tg.ones(3, 4, 5)
    assert tg.tensordot(a, b).shape == (2, 5)
    assert tg.tensordot(a, b, dims=([1, 2], [0, 1])).shape == (2, 5)
    assert tg.tensordot(a, b, dims=0).shape == (2, 3, 4, 3, 4, 5)
    # a summed axis of size 1 broadcasts against a longer one, as in PyTorch
    assert tg.tensordot(tg.ones(1, 1, 1), tg.ones(2, 1, 2), ([0, 1], [2, 0])).item() == 4.0
    with pytest.raises(TypeError, match="tensordot: dims must be an int or a pair of lists"):
        tg.tensordot(a, tg.ones(4, 5), dims=(2, 0))
    with pytest.raises(ValueError, match="tensordot: axes .* do not pair up"):
        tg.tensordot(a, b, dims=([0], [0]))
