"""Issue 19's ten places where a learner was sent into tinygen's source: each test repeats the
learner's step and checks that the output now names the cause, explains itself, or shows it."""

import io
import re
import warnings

import numpy as np
import pytest
from PIL import Image

import tinygen as tg
import tinygen.nn as nn
import tinygen.nn.functional as F
from models import vae
from tinygen import debug
from tinygen.autograd import Function, gradcheck
from tinygen.autograd.tensor import Tensor
from tinygen.train import format_summary, quick_notice, save_captioned_grid


def _line_of(marker: str) -> int:
    with open(__file__) as source:
        for number, line in enumerate(source, start=1):
            if line.rstrip().endswith(f"# the {marker}"):
                return number
    raise AssertionError(marker)


def _site(marker: str) -> str:
    return f"test_learner_stumbles.py:{_line_of(marker)}"


# 1 -------------------------------------------------------------------------------------------
def test_explain_grad_names_the_numpy_call_where_a_sample_left_the_graph():
    mu = tg.tensor(np.full(10, 0.7), requires_grad=True)
    log_sigma = tg.tensor(np.full(10, np.log(0.5)), requires_grad=True)
    with debug.record():
        sigma = log_sigma.exp()
        sample = np.random.default_rng(1).normal(mu.numpy(), sigma.numpy())  # the exit
        z = tg.tensor(sample)
        loss = (z * z).mean()
    for tensor in (mu, log_sigma):  # log_sigma's exit went through a temporary, sigma
        report = str(debug.explain_grad(tensor, loss))
        assert "the graph was left through `.numpy()`" in report and _site("exit") in report
        assert "use tensor ops instead" in report and "run the forward inside" not in report


def test_explain_grad_names_a_rewrap_and_a_numpy_round_trip_as_the_cut():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    with debug.record():
        hidden = w * 2.0
        copied = tg.tensor(hidden)  # the rewrap
        round_trip = tg.tensor(hidden.numpy())  # the round trip
        loss = (copied * round_trip).sum()
    report = str(debug.explain_grad(w, loss))
    assert re.search(rf"`tinygen\.tensor\(t\)` at \S*{_site('rewrap')}", report)
    assert re.search(rf"`\.numpy\(\)` at \S*{_site('round trip')}", report)


def test_record_puts_the_tensor_methods_back_and_notes_nothing_outside_its_block():
    originals = (Tensor.numpy, Tensor.item, Tensor.__dict__["data"], Tensor._adopt)
    w = tg.tensor([1.0], requires_grad=True)
    with debug.record():
        w.item()
        assert Tensor.numpy is not originals[0]
    assert (Tensor.numpy, Tensor.item, Tensor.__dict__["data"], Tensor._adopt) == originals
    loss = tg.tensor(w.numpy()).sum()
    assert "run the forward inside tinygen.debug.record()" in str(debug.explain_grad(w, loss))


# 2 -------------------------------------------------------------------------------------------
def test_trace_changes_no_grad_and_keeps_the_graph_for_the_learners_backward():
    w = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    loss = (w * w).sum()
    debug.trace(loss, file=io.StringIO())
    debug.trace(loss, file=io.StringIO())
    assert w.grad is None
    loss.backward()  # the learner's own first backward: no retain_graph complaint
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0, 6.0])


def test_trace_accumulates_and_frees_only_when_asked():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    loss = (w * w).sum()
    debug.trace(loss, backward=True, retain_graph=False, file=io.StringIO())
    np.testing.assert_allclose(w.grad.numpy(), [2.0, 4.0])
    with pytest.raises(RuntimeError):
        loss.backward()


def test_trace_keeps_a_retained_intermediate_gradient_as_it_was():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    hidden = w * 3.0
    hidden.retain_grad()
    loss = hidden.sum()
    debug.trace(loss, file=io.StringIO())
    assert hidden.grad is None


# 3 -------------------------------------------------------------------------------------------
class TinyConv(nn.Module):
    def __init__(self):
        self.conv1 = nn.Conv2d(1, 2, 3, padding=1)
        self.conv2 = nn.Conv2d(2, 1, 3, padding=1)

    def forward(self, x):
        return self.conv2(F.relu(self.conv1(x)))


def test_trace_module_filter_takes_the_names_named_parameters_uses():
    tg.manual_seed(0)
    model = TinyConv()
    assert "conv2.weight" in dict(model.named_parameters())
    with debug.record():
        loss = (model(tg.randn(1, 1, 4, 4)) ** 2).mean()
    out = io.StringIO()
    rows = debug.trace(loss, module="conv2", file=out)
    assert [row["op"] for row in rows] == ["Conv2d"]
    header = next(line for line in out.getvalue().splitlines() if line.lstrip().startswith("#"))
    assert header.split()[:4] == ["#", "op", "module", "call"]  # the table has the column
    named = debug.trace(loss, module="conv1", model=model, file=io.StringIO())
    assert {row["module"] for row in named} == {"conv1"}


def test_trace_says_why_a_module_filter_matched_nothing():
    tg.manual_seed(0)
    model = TinyConv()
    with debug.record():
        loss = model(tg.randn(1, 1, 4, 4)).sum()
    out = io.StringIO()
    assert debug.trace(loss, module="conv3", file=out) == []
    assert "no op matched module='conv3'" in out.getvalue()
    assert "TinyConv.conv1, TinyConv.conv2" in out.getvalue()
    unrecorded = model(tg.randn(1, 1, 4, 4)).sum()
    out = io.StringIO()
    debug.trace(unrecorded, module="conv2", file=out)
    assert "outside tinygen.debug.record()" in out.getvalue()


# 4 -------------------------------------------------------------------------------------------
def test_a_backward_that_returns_a_numpy_array_is_a_type_error_naming_the_op():
    class Double(Function):
        def forward(self, x):
            return 2 * x

        def backward(self, gy):
            return 2 * gy.numpy()  # the learner's slip: a raw array

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"Double\.backward returned ndarray for input 0; "
                                        r"return a Tensor \(wrap with tinygen\.tensor\)"):
        Double().apply(x).sum().backward()


# 5 -------------------------------------------------------------------------------------------
def test_detect_anomaly_on_a_division_by_zero_names_the_divisor_without_numpy_warnings():
    x = tg.tensor([1.0, 0.0], requires_grad=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(debug.AnomalyError) as error, debug.detect_anomaly():
            x / 0  # the division
    message = str(error.value)
    assert "input 1 (the divisor of Div) is exactly 0" in message and _site("division") in message
    assert "input 0 contains" not in message
    assert not [w for w in caught if issubclass(w.category, RuntimeWarning)]


# 6 -------------------------------------------------------------------------------------------
def test_a_quick_vae_run_fills_its_bar_says_it_is_short_and_ends_with_units(tmp_path, capsys):
    vae.main(["--quick", "--epochs", "1", "--batch-size", "500", "--hidden", "16", "--latent",
              "3", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "16/16" in text and "100%" in text  # one epoch of 8000 / 500 steps: all of it
    assert "--quick: a short run on purpose (16 training steps" in text
    assert "python -m models.vae --model vae (the same flags, without --quick)" in text
    assert re.search(r"test_neg_elbo +[\d.]+ nats per image", text)
    assert str(tmp_path / "metrics.jsonl") in text
    assert not re.search(r"^\{", text, re.MULTILINE)  # no bare JSON line


def test_quick_notice_and_summary_read_without_the_source():
    notice = quick_notice("python -m models.gan", 600, 6250, also="fewer samples")
    assert notice.startswith("--quick: a short run on purpose (600 training steps instead of "
                             "the full run's 6250; fewer samples)")
    summary = format_summary("after 600 steps:", {"accuracy": 0.975, "raw_accuracy": 0.5,
                                                  "steps": 600, "loss": 0.123456},
                             {"accuracy": "%", "steps": "training steps"}, saved_in="m.jsonl")
    assert summary.splitlines() == [
        "after 600 steps:",
        "  accuracy           97.50 %",
        "  raw_accuracy       50.00 %",
        "  steps                600 training steps",
        "  loss              0.1235",
        "  (the same numbers, machine-readable: m.jsonl)",
    ]


# 7 -------------------------------------------------------------------------------------------
def test_the_trace_table_explains_itself_aligns_its_columns_and_prints_small_values():
    w = tg.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    x = tg.tensor([[1.0, 0.0], [0.0, 1.0]])
    loss = (w @ x + w).sum()
    out = io.StringIO()
    debug.trace(loss, file=out)
    text = out.getvalue()
    assert "|g_in|, the norm of the gradient the" in text and "total so far" in text
    assert "call site '?': the forward ran outside tinygen.debug.record()" in text
    assert "input 1 (2, 2): needs no gradient (data or a constant)" in text
    assert "g_in = [[1., 1.], [1., 1.]]" in text
    op_lines = [line for line in text.splitlines() if re.match(r" +\d+  ", line)]
    assert len(op_lines) == 3
    assert len({line.index("?") for line in op_lines}) == 1  # the call-site column lines up
    assert "total so far" in text.split("MatMul")[1]  # w: a second contribution, summed


# 8 -------------------------------------------------------------------------------------------
def test_gradchecks_default_failure_says_what_u_j_v_means():
    class Cube(Function):
        def forward(self, x):
            self.save_for_backward(x)
            return x ** 3

        def backward(self, gy):
            (x,) = self.saved_tensors
            return gy * 2 * x  # wrong: 3 x^2

    x = tg.tensor(np.linspace(-1.0, 1.0, 5), requires_grad=True)
    with pytest.raises(AssertionError) as error:
        gradcheck(lambda t: Cube().apply(t), [x])
    message = str(error.value)
    assert "<u, J v>" in message
    assert "J is the Jacobian (the matrix of d output / d input), v a random direction" in message
    assert "the gradient of sum(u * output) at that element" in message


# 9 -------------------------------------------------------------------------------------------
def test_the_vae_reconstructions_picture_names_originals_and_reconstructions(tmp_path):
    tg.manual_seed(0)
    model = vae.VAE(latent=3, hidden=8)
    rng = np.random.default_rng(0)
    x_test = (rng.random((40, vae.PIXELS)) > 0.6).astype(np.float32)
    vae.save_pictures(model, x_test, rng.integers(0, 10, 40), tmp_path,
                      rng.standard_normal((64, 3)).astype(np.float32))
    picture = np.asarray(Image.open(tmp_path / "reconstructions.png"))
    grid_height = 2 * (2 * 30 + 2)  # two rows of 28-pixel digits, padded, drawn twice as big
    assert picture.shape[0] > grid_height + 20  # a caption band above the grid
    band = picture[:picture.shape[0] - grid_height]
    assert (band < 128).sum() > 200  # dark text on white


def test_a_captioned_grid_labels_every_column_of_pairs(tmp_path):
    images = np.zeros((4, 1, 28, 28), dtype=np.float32)
    path = save_captioned_grid(images, tmp_path / "pairs.png", nrow=4, title="pairs",
                               column_labels=["original", "recon."])
    picture = np.asarray(Image.open(path))
    band = picture[14:28]  # the labels' line, under the title
    columns = np.array_split(band, 4, axis=1)
    assert all((column < 128).any() for column in columns)


def test_to_dot_shows_every_gradient_and_names_parameters_without_named_parameters():
    tg.manual_seed(0)
    model = TinyConv()
    x = tg.randn(1, 1, 4, 4)
    loss = model(x).sum()
    text = debug.to_dot(loss, model=model)
    assert "conv2.weight" in text and "conv1.bias" in text and "leaf" not in text
    tensor_labels = re.findall(r'shape=ellipse, label="([^"]*)"', text)
    needing = [label for label in tensor_labels if not label.startswith("constant")]
    assert needing and all("grad: " in label for label in needing)
    assert model.conv1.weight.grad is None  # computed for the picture, not accumulated
    with debug.record():
        recorded = model(x).sum()
    assert "TinyConv.conv2.weight" in debug.to_dot(recorded)


# 10 ------------------------------------------------------------------------------------------
def _stack(first_mask):
    tg.manual_seed(0)
    return nn.Sequential(nn.MaskedConv2d(1, 4, 5, mask_type=first_mask), nn.ReLU(),
                         nn.MaskedConv2d(4, 1, 1, mask_type="B"))


def test_check_causals_success_report_reads_as_a_sentence():
    report = tg.check_causal(_stack("A"), (1, 5, 5))
    text = str(report)
    assert "array(" not in text and "[[" not in text
    assert "25 of 25 output pixels checked" in text
    assert "causal: no checked pixel sees its own input or a later one" in text
    assert repr(report) == text


def test_a_leak_at_the_first_pixel_is_the_pixel_the_heat_map_draws(tmp_path):
    report = tg.check_causal(_stack("B"), (1, 7, 7), raise_exception=False)
    assert report.pixel == (0, 0) and report.leaks[(0, 0)] == [(0, 0)]
    assert report.receptive_field[0, 0] != 0
    assert "LEAK" in str(report) and "the first, (0, 0), sees (0, 0)" in str(report)
    report.save_heatmap(tmp_path / "leak.png")
    with pytest.raises(debug.CausalityError) as error:
        tg.check_causal(_stack("B"), (1, 7, 7))
    assert error.value.report.pixel == (0, 0)
    assert "error.report.save_heatmap(path) draws it" in str(error.value)


def test_explain_grad_leaves_a_retained_gradient_as_it_was():
    w = tg.tensor([1.0, -2.0], requires_grad=True)
    hidden = w * 3.0
    hidden.retain_grad()
    loss = hidden.relu().sum()
    explanation = str(debug.explain_grad(w, loss))
    assert "at least one path is live" in explanation and hidden.grad is None
