"""Every registered op refuses malformed input with a named tinygen error (issue 17, item 5).

One Hypothesis test per registry spec breaks one argument of a valid call (a tensor input
replaced by an array, a list, None, a str, another dtype, another ndim or size, an empty
axis, NaN; a hyperparameter replaced by None, a str, a float for an int, a negative, zero,
huge, NaN, inf, a bool, a tuple of the wrong length) and accepts a normal return or a
TypeError/ValueError/IndexError/RuntimeError raised by tinygen that names the op
(``tinygen.testing.malformed.internal_escape``). Then one test per case the issue named:
each failed (a NumPy or Python error, or no error at all) before its fix.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given

import tinygen as tg
import tinygen.nn.functional as F
from tinygen.testing import all_specs
from tinygen.testing.malformed import harness_failure, internal_escape, malformed_calls

SPECS = all_specs()


@pytest.mark.parametrize("spec", SPECS, ids=[spec.name for spec in SPECS])
def test_malformed_input_raises_a_named_tinygen_error(spec):
    @given(call=malformed_calls(spec))
    def check(call):
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            try:
                call.run()
            except Exception as error:  # noqa: BLE001 - classifying every escape is the test
                if harness_failure(error):
                    return  # the spec's own call helper choked on the value, not the op
                reason = internal_escape(error, call.names)
                assert reason is None, f"{call}: {reason}"

    check()


# --------------------------------------------------------------------------- the named cases
def _refusal(function, *args, **kwargs) -> BaseException:
    """The error ``function`` raises, after checking it is a named tinygen refusal."""
    with pytest.raises(Exception) as caught:  # noqa: PT011 - the classifier checks the type
        function(*args, **kwargs)
    name = getattr(function, "__name__", "")
    assert internal_escape(caught.value, (name,)) is None, caught.value
    return caught.value


def test_conv2d_refuses_a_numpy_array_input():
    error = _refusal(F.conv2d, np.ones((1, 1, 3, 3)), tg.randn(1, 1, 2, 2))

    assert isinstance(error, TypeError) and "x must be a Tensor, got ndarray" in str(error)


def test_relu_refuses_a_list_input():
    error = _refusal(F.relu, [1.0, 2.0])

    assert isinstance(error, TypeError) and "got list" in str(error)


def test_conv2d_refuses_a_float_stride():
    error = _refusal(F.conv2d, tg.randn(1, 1, 4, 4), tg.randn(1, 1, 2, 2), stride=1.5)

    assert "stride" in str(error) and "1.5" in str(error)


def test_masked_conv2d_refuses_a_2d_weight():
    error = _refusal(F.masked_conv2d, tg.randn(1, 1, 4, 4), tg.randn(3, 3))

    assert isinstance(error, ValueError) and "(3, 3)" in str(error)


def test_masked_conv2d_refuses_an_even_kernel_which_has_no_causal_centre():
    error = _refusal(F.masked_conv2d, tg.randn(1, 1, 4, 4), tg.randn(1, 1, 2, 2))

    assert isinstance(error, ValueError) and "odd" in str(error)


def test_batch_norm_refuses_a_read_only_running_mean_in_training():
    running_mean = np.zeros(3)
    running_mean.setflags(write=False)

    error = _refusal(F.batch_norm, tg.randn(4, 3), running_mean, np.ones(3), training=True)

    assert isinstance(error, ValueError) and "read-only" in str(error)


@pytest.mark.parametrize("eps", [0.0, -1e-5, float("nan")])
def test_batch_norm_refuses_eps_that_is_not_positive(eps):
    error = _refusal(F.batch_norm, tg.randn(4, 3), training=True, eps=eps)

    assert isinstance(error, ValueError) and "eps" in str(error)


@pytest.mark.parametrize("momentum", [-0.1, 1.5, float("nan")])
def test_batch_norm_refuses_momentum_outside_0_1(momentum):
    error = _refusal(F.batch_norm, tg.randn(4, 3), np.zeros(3), np.ones(3), training=True,
                     momentum=momentum)

    assert "momentum" in str(error)


@pytest.mark.parametrize("norm", ["layer_norm", "group_norm", "instance_norm"])
def test_the_other_norms_refuse_eps_zero(norm):
    x = tg.randn(2, 4, 3)
    args = {"layer_norm": ((3,),), "group_norm": (2,), "instance_norm": ()}[norm]

    error = _refusal(getattr(F, norm), x, *args, eps=0.0)

    assert isinstance(error, ValueError) and "eps" in str(error)


def test_dropout_refuses_an_integer_tensor():
    error = _refusal(F.dropout, tg.tensor([1, 2, 3]))

    assert isinstance(error, TypeError) and "int64" in str(error)


def test_tensor_refuses_a_ragged_nested_list_naming_the_lengths():
    with pytest.raises(ValueError, match=r"tensor\(\): the nested lists are ragged.*\[1, 2\]"):
        tg.tensor([[1, 2], [3]])


@pytest.mark.parametrize("factory", [tg.tensor, tg.Tensor, tg.as_tensor])
def test_tensor_factories_refuse_strings(factory):
    with pytest.raises(TypeError, match=r"\(\): expected numbers .*<U1"):
        factory(["a", "b"])


def test_tensor_refuses_none_which_numpy_reads_as_nan():
    with pytest.raises(TypeError, match="None"):
        tg.tensor([1.0, None])


def test_softmax_names_itself_for_a_dim_out_of_range():
    error = _refusal(F.softmax, tg.randn(2, 3), dim=5)

    assert isinstance(error, IndexError) and "[-2, 1]" in str(error)


def test_matmul_refuses_float32_with_float64_as_pytorch_does():
    error = _refusal(tg.matmul, tg.randn(2, 3), tg.randn(3, 2, dtype=np.float64))

    assert isinstance(error, TypeError) and "float32" in str(error) and "float64" in str(error)


def test_lstm_cell_refuses_mixed_float_dtypes():
    x_gates, c_prev = tg.randn(2, 16), tg.randn(2, 4, dtype=np.float64)

    error = _refusal(F.lstm_cell, x_gates, c_prev)

    assert isinstance(error, TypeError) and "float64" in str(error)


def test_add_promotes_and_sends_each_gradient_back_in_its_own_dtype():
    low = tg.randn(3, requires_grad=True)
    high = tg.randn(3, dtype=np.float64, requires_grad=True)

    total = (low + high * low).sum()
    total.backward()

    assert total.dtype == np.float64
    assert low.grad.dtype == np.float32 and high.grad.dtype == np.float64


def test_a_0d_float64_does_not_widen_a_float32_tensor_as_in_pytorch():
    result = tg.randn(3) + tg.tensor(2.0, dtype=np.float64)

    assert result.dtype == np.float32


def test_bernoulli_nll_refuses_targets_outside_0_1():
    error = _refusal(F.bernoulli_nll, tg.randn(3), [2.0, -1.0, 0.5])

    assert isinstance(error, ValueError) and "[0, 1]" in str(error)


def test_cat_names_the_mismatching_shapes():
    error = _refusal(tg.cat, [tg.randn(2, 3), tg.randn(2, 4)])

    assert isinstance(error, ValueError) and "(2, 3)" in str(error) and "(2, 4)" in str(error)


def test_an_error_inside_a_composition_notes_the_function_called():
    error = _refusal(F.glu, tg.randn(2, 4), dim=1.5)

    assert "glu" in str(error) + " ".join(getattr(error, "__notes__", ()))


def test_cat_promotes_float32_with_float64_as_pytorch_does():
    low = tg.randn(2, requires_grad=True)
    high = tg.randn(3, dtype=np.float64, requires_grad=True)

    joined = tg.cat([low, high])
    joined.sum().backward()

    assert joined.dtype == np.float64 and low.grad.dtype == np.float32


def test_a_custom_function_never_sees_two_float_dtypes():
    class Pair(tg.autograd.Function):
        def forward(self, a, b):
            return a + b

    with pytest.raises(TypeError, match="pair: expected tensors of one floating dtype"):
        Pair().apply(tg.randn(2), tg.randn(2, dtype=np.float64))


@pytest.mark.parametrize(("function", "name"), [
    (lambda: tg.autograd.ops.recurrent.LSTMCell(), "lstm_cell"),
    (lambda: tg.autograd.ops.activation.LeakyReLU(0.1), "leaky_relu"),
    (lambda: tg.autograd.ops.activation.ReLU(), "relu"),
    (lambda: tg.autograd.ops.linalg.MatMul(), "matmul"),
])
def test_an_op_is_named_as_users_call_it(function, name):
    assert function().public_name == name


def test_an_index_tensor_beside_a_float_one_is_not_a_dtype_mix():
    weight = tg.randn(4, 3, dtype=np.float64, requires_grad=True)

    rows = F.embedding(tg.tensor([0, 3]), weight)

    assert rows.shape == (2, 3) and rows.dtype == np.float64
