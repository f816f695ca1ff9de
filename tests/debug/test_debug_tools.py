"""tinygen.debug on small graphs: trace, to_dot, explain_grad, detect_anomaly."""

import io
import warnings

import numpy as np
import pytest

import tinygen as tg
from tinygen import debug


def parameter(shape, name, seed=0):
    values = np.random.default_rng(seed).standard_normal(shape)
    return tg.tensor(values, requires_grad=True, name=name)


def test_trace_lists_nodes_in_execution_order_with_call_sites_and_norms():
    weight = parameter((3, 2), "fc.weight")
    x = tg.tensor(np.ones((4, 3)))
    with debug.record():
        loss = (x @ weight).tanh().sum()  # the call site the trace must show
    out = io.StringIO()
    rows = debug.trace(loss, file=out)
    assert [row["op"] for row in rows] == ["Sum", "Tanh", "MatMul"]
    assert all(row["call_site"].endswith(f"test_debug_tools.py:{_line_of('call site')}")
               for row in rows)
    assert rows[2]["input_shapes"] == [(4, 3), (3, 2)]
    assert weight.grad is None  # trace leaves .grad alone
    loss.backward()
    np.testing.assert_allclose(rows[2]["accumulated_norms"][1],
                               np.linalg.norm(weight.grad.numpy()))
    assert "MatMul" in out.getvalue()


def _line_of(marker: str) -> int:
    with open(__file__) as source:
        for number, line in enumerate(source, start=1):
            if f"# the {marker}" in line:
                return number
    raise AssertionError(marker)


def test_trace_filters_by_op_and_depth():
    weight = parameter((3,), "w")
    loss = (weight.exp() * 2.0).sum()
    rows = debug.trace(loss, ops={"Exp"}, file=io.StringIO())
    assert [row["op"] for row in rows] == ["Exp"]
    loss = (weight.exp() * 2.0).sum()
    assert [r["op"] for r in debug.trace(loss, max_depth=0, file=io.StringIO())] == ["Sum"]


def test_to_dot_names_parameters_and_shows_gradient_statistics(tmp_path):
    weight = parameter((3, 2), "layer.weight")  # over 4 numbers: statistics, not values
    loss = (weight * weight).sum()
    loss.backward(retain_graph=True)
    text = debug.to_dot(loss, tmp_path / "graph.dot")
    assert text.startswith("digraph") and "layer.weight" in text and "grad: mean" in text
    assert "Mul" in text and (tmp_path / "graph.dot").read_text() == text


def test_to_dot_explains_how_to_install_graphviz_when_missing(tmp_path, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    loss = (parameter((2,), "w") * 3.0).sum()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        debug.to_dot(loss, tmp_path / "graph.png")
    assert any("apt-get install graphviz" in str(w.message) for w in caught)
    assert (tmp_path / "graph.dot").exists()


def test_explain_grad_names_a_planted_detach():
    weight = parameter((2,), "w")
    with debug.record():
        loss = (weight.detach() * 3.0).sum() + 1.0 * tg.tensor(1.0, requires_grad=True)
    report = str(debug.explain_grad(weight, loss))
    assert "detach()" in report and "test_debug_tools.py" in report


def test_explain_grad_names_no_grad_and_requires_grad_false():
    weight = parameter((2,), "w")
    other = parameter((2,), "other")
    with debug.record():
        with tg.no_grad():
            frozen = weight * 2.0
        loss = (frozen * other).sum()
    assert "no_grad" in str(debug.explain_grad(weight, loss))
    constant = tg.tensor([1.0, 2.0])
    assert "requires_grad=False" in str(debug.explain_grad(constant, loss))


def test_explain_grad_names_a_relu_dead_on_the_whole_batch():
    weight = parameter((2,), "w")
    loss = (weight * tg.tensor([-1.0, -2.0], dtype=np.float64) - 10.0).relu().sum()
    report = str(debug.explain_grad(weight, loss))
    assert "dead on the whole batch" in report and "zero on every live path" in report


def test_explain_grad_says_when_there_is_no_path():
    weight, other = parameter((2,), "w"), parameter((2,), "other")
    loss = (other * 2.0).sum()
    assert "no path" in str(debug.explain_grad(weight, loss))


def test_detect_anomaly_pins_a_log_of_zero_to_its_line():
    x = tg.tensor([0.0, 1.0], requires_grad=True, dtype=np.float64)
    with pytest.raises(debug.AnomalyError) as error, debug.detect_anomaly():
        tg.log(x * 1.0)  # the planted nan
    message = str(error.value)
    assert "op Log" in message and "forward" in message
    assert f"test_debug_tools.py:{_line_of('planted nan')}" in message
    assert "input 0 (the input of Log) is exactly 0 where the result is not finite" in message


def test_detect_anomaly_catches_a_bad_gradient_in_backward():
    x = tg.tensor([0.0, 4.0], requires_grad=True, dtype=np.float64)
    detector = debug.detect_anomaly()
    with detector:
        y = tg.sqrt(x).sum()  # finite forward; d sqrt/dx at 0 is inf
        with pytest.raises(debug.AnomalyError, match=r"op Sqrt.*backward"):
            y.backward()


def test_sampled_detect_anomaly_checks_only_every_nth_entry():
    detector = debug.detect_anomaly(every=2)
    zero = tg.tensor([0.0], requires_grad=True, dtype=np.float64)
    with pytest.raises(debug.AnomalyError), detector:
        tg.log(zero)
    with np.errstate(divide="ignore"), detector:  # entry 2 is not checked
        tg.log(zero)
    with pytest.raises(ValueError, match="every"):
        debug.detect_anomaly(every=0)


def test_explain_grad_names_a_comparison_and_an_integer_cast():
    weight = parameter((3,), "w")
    with debug.record():
        mask = (weight > 0.0).astype(np.float64)  # a comparison: no gradient flows through
        counts = (weight * 10.0).astype(np.int64).astype(np.float64)  # rounding: none either
        loss = (mask * 2.0).sum() + counts.sum()
    report = str(debug.explain_grad(weight, loss))
    assert "a comparison (not differentiable)" in report
    assert "integer/bool dtype int64" in report
