"""The conformance harness itself: it finds ops, and it catches a wrong forward, a wrong
gradient and a wrong second derivative (an op that passes them all proves nothing unless a
broken one fails)."""

import pytest

torch = pytest.importorskip("torch")

import tinygen  # noqa: E402 - only once torch is known to be there
from tinygen.autograd import Function, ops  # noqa: E402
from tinygen.backend import get_array_module  # noqa: E402

from . import harness, mapping  # noqa: E402

pytestmark = pytest.mark.parity


def _exp_target(call) -> mapping.Target:
    opinfo = next(op for op in mapping.op_db() if op.name == "exp")
    return mapping.Target("exp", opinfo, "test double", call, opinfo.op)


class _ExpWithWrongGradient(Function):
    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # deliberately wrong: d exp(x)/dx = exp(x), not 2 exp(x)
        (y,) = self.saved_tensors
        return gy * y * 2


class _ExpWithConstantGradient(Function):
    def forward(self, x):
        y = get_array_module(x).exp(x)
        self.save_for_backward(y)
        return y

    def backward(self, gy):
        # right at first order, but exp(x) enters as a constant: no second derivative in x
        (y,) = self.saved_tensors
        return gy * tinygen.Tensor(y.numpy())


def test_exp_matches_torch():
    result = harness.run_op(_exp_target(tinygen.exp))

    assert result.failed == 0 and result.passed > 0, result.failures


def test_a_wrong_forward_fails_with_its_largest_difference():
    result = harness.run_op(_exp_target(lambda x: tinygen.exp(x) * 1.001))

    assert result.failed > 0
    assert all("forward" in failure and "max |diff|" in failure for failure in result.failures)


def test_a_wrong_gradient_fails_at_first_order():
    result = harness.run_op(_exp_target(lambda x: _ExpWithWrongGradient().apply(x)))

    assert result.failed > 0
    assert all("first order wrt input" in failure for failure in result.failures)


def test_a_backward_that_is_not_differentiable_fails_at_second_order():
    result = harness.run_op(_exp_target(lambda x: _ExpWithConstantGradient().apply(x)))

    assert result.failed > 0
    assert all("second order wrt input" in failure for failure in result.failures)


def test_a_tinygen_error_is_a_failure_naming_it():
    def refuses(x):
        raise ValueError("exp: nope")

    result = harness.run_op(_exp_target(refuses))

    assert result.failed == result.samples
    assert all("tinygen raises ValueError: exp: nope" in failure for failure in result.failures)


def test_samples_are_the_same_on_every_run():
    target = _exp_target(tinygen.exp)

    first, second = harness.samples(target), harness.samples(target)

    assert [i for i, _ in first] == [i for i, _ in second]
    for (_, a), (_, b) in zip(first, second):
        assert torch.equal(a.input, b.input)


def test_a_capped_run_spreads_its_samples_over_the_list():
    target = next(t for t in mapping.targets() if t.key == "nn.functional.max_pool2d")

    chosen = [index for index, _ in harness.samples(target, limit=10)]

    assert len(chosen) == 10 and chosen[0] == 0 and chosen[-1] > 1000


def test_discovery_finds_functions_methods_and_renames(monkeypatch):
    monkeypatch.setitem(mapping.RENAMES, "nn.functional.torch_only_name",
                        "nn.functional.log_sigmoid")

    assert mapping.resolve("nn.functional.torch_only_name")[0] == \
        "tinygen.nn.functional.log_sigmoid"
    assert mapping.resolve("add")[0] == "tinygen.add"
    assert mapping.resolve("nn.functional.relu")[0] == "tinygen.nn.functional.relu"
    assert mapping.resolve("view")[0] == "Tensor.view"
    assert mapping.resolve("Tensor.exp")[0] == "Tensor.exp"
    assert mapping.resolve("no_such_op") is None


def test_a_method_counts_only_once_its_op_wrapper_exists(monkeypatch):
    monkeypatch.delattr(ops, "exp")

    assert mapping.resolve("Tensor.exp") is None
