"""Pooling's argument errors name the function, and inputs PyTorch accepts stay accepted."""

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn.functional as F

X = tg.tensor(np.ones((1, 1, 4, 4)))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: F.max_pool2d(X, 2.5), r"max_pool2d: kernel_size: expected an int >= 1"),
    (lambda: F.avg_pool2d(X, 2, stride=0), r"avg_pool2d: stride: expected an int >= 1"),
    (lambda: F.max_pool1d(X[0], 2, padding=-1), r"max_pool1d: padding: expected an int >= 0"),
    (lambda: F.avg_pool1d(X[0], "2"), r"avg_pool1d: kernel_size: expected an int >= 1"),
    (lambda: F.max_pool2d(X, 2, dilation=(1, 0)), r"max_pool2d: dilation: expected an int"),
    (lambda: F.adaptive_avg_pool2d(X, (2, 0)),
     r"adaptive_avg_pool2d: output_size must be a positive int, got 0"),
    (lambda: F.adaptive_max_pool1d(X[0], None),
     r"adaptive_max_pool1d: output_size must be a positive int, got None"),
    (lambda: F.max_unpool2d(X, X.long(), 2.0), r"max_unpool2d: kernel_size: expected an int"),
])
def test_a_bad_pooling_argument_names_the_function_and_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("pool", [F.max_pool2d, F.avg_pool2d, F.max_pool1d, F.avg_pool1d])
def test_a_pool_refuses_a_non_tensor_input_by_name(pool):
    with pytest.raises(TypeError, match=rf"{pool.__name__}: input must be a Tensor, got list"):
        pool([[[1.0, 2.0]]], 1)


def test_max_unpool_refuses_an_output_size_that_is_not_ints():
    y, indices = F.max_pool2d(X, 2, return_indices=True)
    with pytest.raises(TypeError, match=r"max_unpool2d: output_size must be a tuple of ints, "
                                        r"got \(4, nan\)"):
        F.max_unpool2d(y, indices, 2, output_size=(4, float("nan")))


def test_max_pool2d_of_integers_pads_with_the_least_integer():
    # torch pools int64 too; its padding never wins, so the entries' own maximum does
    x = tg.tensor(np.array([[[[-5, -7], [-9, -6]]]], dtype=np.int64))
    y, indices = F.max_pool2d(x, 3, stride=1, padding=1, return_indices=True)

    assert y.dtype == np.int64
    np.testing.assert_array_equal(y.numpy()[0, 0], [[-5, -5], [-5, -5]])
    np.testing.assert_array_equal(indices.numpy()[0, 0], [[0, 0], [0, 0]])


def test_pools_of_an_empty_batch_are_empty():
    empty = tg.tensor(np.zeros((0, 2, 4, 4)))
    for pool in (lambda t: F.max_pool2d(t, 2), lambda t: F.avg_pool2d(t, 2),
                 lambda t: F.adaptive_max_pool2d(t, 2), lambda t: F.adaptive_avg_pool2d(t, 3)):
        assert pool(empty).shape[:2] == (0, 2)
