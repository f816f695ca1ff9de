"""tinygen.debug.replay without a browser: the page is self-contained, its tape is the graph
and the gradients, and writing it changes neither ``.grad`` nor the graph."""

import io
import json
import re

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from models import pixelcnn
from tinygen import debug
from tinygen.autograd import Function, topological_order
from tinygen.debug.replay import derivation, record_tape, summarize


def mlp_loss(seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x, y = tg.randn(5, 3), tg.randn(5, 1)
    with debug.record():
        loss = ((model(x) - y) ** 2).mean()
    return model, loss


def page_tape(path):
    text = path.read_text()
    blob = re.search(r'<script type="application/json" id="tape">(.*?)</script>', text, re.S)
    return json.loads(blob.group(1))


def test_replay_page_is_self_contained(tmp_path):
    model, loss = mlp_loss()
    text = debug.replay(loss, tmp_path / "mlp.html", model=model).read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", text, re.I)
    assert not re.search(r"""url\(\s*["']?(https?:)?//|@import|<link|<script[^>]*\ssrc=""",
                         text, re.I)
    assert "fetch(" not in text and "XMLHttpRequest" not in text
    assert "{{" not in text  # every placeholder filled


def test_tape_lists_the_graphs_ops_in_forward_order_with_sites_and_modules(tmp_path):
    model, loss = mlp_loss()
    order = topological_order(loss)
    tape = page_tape(debug.replay(loss, tmp_path / "mlp.html", model=model))
    assert [op["op"] for op in tape["ops"]] == [node.name for node in order]
    for op, node in zip(tape["ops"], order):
        assert [tape["tensors"][i]["shape"] for i in op["inputs"]] == [
            list(t.shape) for t in node.inputs]
        assert re.fullmatch(r".*test_replay\.py:\d+", op["call_site"])
    assert {op["module"] for op in tape["ops"]} >= {"Sequential.0", "Sequential.1",
                                                    "Sequential.2"}
    names = {t["name"] for t in tape["tensors"] if t["kind"] == "parameter"}
    assert names == {"0.weight", "0.bias", "2.weight", "2.bias"}


def test_backward_steps_follow_the_engine_and_end_at_grad(tmp_path):
    model, loss = mlp_loss()
    tape = page_tape(debug.replay(loss, tmp_path / "mlp.html", model=model))
    traced = [row["op"] for row in debug.trace(loss, retain_graph=True, file=io.StringIO())]
    model.zero_grad()
    loss.backward()
    assert [tape["ops"][step["op"]]["op"] for step in tape["backward"]] == traced
    by_name = {t["name"]: t["id"] for t in tape["tensors"] if t["name"]}
    for name, parameter in model.named_parameters():
        shown = tape["grads"][str(by_name[name])]["values"]
        np.testing.assert_allclose(shown, parameter.grad.numpy().reshape(-1), rtol=1e-6)


def test_each_step_adds_its_local_gradient_to_the_accumulated_one():
    model, loss = mlp_loss()
    tape = record_tape(loss, model=model)
    for step in tape["backward"]:
        for local, before, after in zip(step["local"], step["before"], step["after"]):
            if local is None:
                assert before is None and after is None
                continue
            expected = np.add(local["values"], before["values"]) if before else local["values"]
            np.testing.assert_allclose(after["values"], expected, rtol=1e-6)


def test_replay_leaves_grad_and_graph_alone(tmp_path):
    model, loss = mlp_loss()
    weight = model[0].weight
    weight.grad = tg.ones(*weight.shape)
    held = weight.grad
    debug.replay(loss, tmp_path / "mlp.html", model=model)
    assert weight.grad is held and np.all(weight.grad.numpy() == 1)
    assert model[2].bias.grad is None
    loss.backward()  # the graph is still there, and backward accumulates as usual
    twin, twin_loss = mlp_loss()
    (expected,) = tg.autograd.grad(twin_loss, [twin[0].weight])
    np.testing.assert_allclose(weight.grad.numpy(), 1 + expected.numpy(), rtol=1e-6)


def test_replay_keeps_retained_intermediate_grads(tmp_path):
    w = tg.randn(3, requires_grad=True)
    hidden = w.tanh()
    hidden.retain_grad()
    loss = (hidden * hidden).sum()
    debug.replay(loss, tmp_path / "retained.html")
    assert hidden.grad is None and w.grad is None


def test_replay_refuses_a_freed_graph_and_a_graphless_or_vector_loss(tmp_path):
    w = tg.randn(3, requires_grad=True)
    loss = (w * w).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="replay: .*retain_graph=True"):
        debug.replay(loss, tmp_path / "freed.html")
    with pytest.raises(ValueError, match="replay: loss has no graph"):
        debug.replay(tg.ones(1), tmp_path / "none.html")
    with pytest.raises(ValueError, match=r"replay: loss must have one element, got shape \(3,\)"):
        debug.replay(w * 2, tmp_path / "vector.html")


def test_small_arrays_travel_as_values_and_large_ones_as_pictures():
    small = summarize(np.arange(6, dtype=np.float32).reshape(2, 3))
    large = summarize(np.linspace(-1, 1, 2 * 3 * 20 * 20).reshape(2, 3, 20, 20))
    assert small["values"] == [0, 1, 2, 3, 4, 5] and small["stats"]["max"] == 5
    assert "values" not in large and large["stats"]["min"] == -1
    assert sum(large["hist"]["counts"]) == 2400
    heat = large["heat"]
    assert heat["rows"] <= 32 and heat["cols"] <= 32
    assert len(heat["hex"]) == 2 * heat["rows"] * heat["cols"]
    assert heat["hex"][:2] == "00"  # the most negative value is the bottom of the scale


def test_a_conv_kernel_heat_map_shows_every_output_channel():
    kernel = summarize(np.ones((64, 32, 1, 1)))  # tiny maps: one row per output channel
    assert (kernel["heat"]["rows"], kernel["heat"]["cols"]) == (32, 32)  # 64 rows averaged
    assert "ff" not in kernel["heat"]["hex"]


def test_non_finite_values_are_carried_as_strings_in_valid_json():
    summary = summarize(np.array([1.0, np.nan, np.inf, -np.inf]))
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text)["values"] == [1.0, "NaN", "Infinity", "-Infinity"]
    assert summary["stats"]["nonfinite"] == 3


class Cube(Function):
    def forward(self, x):
        self.save_for_backward(x)
        return x * x * x

    def backward(self, gy):
        (x,) = self.saved_tensors
        # d(x^3)/dx = 3 x^2, a comment that runs
        # over two lines
        gx = gy * 3 * x * x
        # (a later comment is not the derivation)
        return gx


def test_derivation_is_the_first_comment_of_the_ops_backward(tmp_path):
    x = tg.randn(3, requires_grad=True)
    loss = Cube().apply(x).sum()
    line = "d(x^3)/dx = 3 x^2, a comment that runs over two lines"
    assert derivation(loss.grad_fn.inputs[0].grad_fn) == line
    tape = page_tape(debug.replay(loss, tmp_path / "cube.html"))
    assert tape["ops"][0]["derivation"] == line


def test_a_tensor_name_cannot_close_the_pages_script(tmp_path):
    w = tg.randn(2, requires_grad=True)
    w.name = "</script><b>"
    path = debug.replay((w * w).sum(), tmp_path / "named.html")
    assert page_tape(path)["tensors"][0]["name"] == "</script><b>"


def test_pixelcnn_tape_names_every_op_by_module_and_stays_small(tmp_path):
    tg.manual_seed(0)
    model = pixelcnn.PixelCNN(channels=8, blocks=2, head=8)
    x = tg.tensor((np.random.default_rng(0).random((2, 1, 12, 12)) > 0.5).astype(np.float32))
    with debug.record():
        loss = pixelcnn.nll_per_image(model, x).mean()
    path = debug.replay(loss, tmp_path / "pixelcnn.html", model=model)
    tape = page_tape(path)
    modules = {op["module"] for op in tape["ops"]}
    assert {"PixelCNN.input", "PixelCNN.blocks.0.conv", "PixelCNN.head.3"} <= modules
    assert len(tape["backward"]) == len(tape["ops"])
    assert path.stat().st_size < 1_000_000


def test_a_broadcast_gradient_is_shown_summed_to_the_inputs_shape():
    bias = tg.randn(3, requires_grad=True)
    loss = ((tg.randn(4, 3) + bias) ** 2).sum()
    tape = record_tape(loss)
    add = next(s for s in tape["backward"] if tape["ops"][s["op"]]["op"] == "Add")
    assert add["upstream"][0]["shape"] == [4, 3] and add["local"][1]["shape"] == [3]
    loss.backward()
    (leaf,) = tape["grads"].values()  # the bias is the one leaf that requires grad
    np.testing.assert_allclose(leaf["values"], bias.grad.numpy(), rtol=1e-6)


def test_an_op_with_several_outputs_gets_one_upstream_gradient_per_output():
    w = tg.randn(4, requires_grad=True)
    first, _ = w.split(2)  # the second output is unused: its upstream gradient is zero
    tape = record_tape((first * 3).sum())
    split = next(s for s in tape["backward"] if tape["ops"][s["op"]]["op"] == "Split")
    assert [g["values"] for g in split["upstream"]] == [[3, 3], [0, 0]]
    assert tape["grads"][0]["values"] == [3, 3, 0, 0]
