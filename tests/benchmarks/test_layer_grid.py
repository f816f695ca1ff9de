"""benchmarks/layer_grid.py: its rows build in both frameworks, agree with PyTorch, and render.

Only a few small rows are measured (one sample each): the grid itself is a benchmark, not a
test, and takes minutes.
"""

import argparse

import pytest

torch = pytest.importorskip("torch")
layer_grid = pytest.importorskip("benchmarks.layer_grid")
layer_rows = pytest.importorskip("benchmarks.layer_rows")

pytestmark = pytest.mark.parity

SMALL_ROWS = ["layer_norm 128", "cross_entropy, 10 classes", "dropout p=0.25, 64×12²",
              "conv2d 1x1 256→64, 16²", "Adam step, 1.2M parameters"]


def _row(name):
    return next(row for row in layer_rows.ROWS if row.case.name == name)


def test_row_names_are_unique():
    names = [row.case.name for row in layer_rows.ROWS]

    assert len(names) == len(set(names))


def test_every_conv_row_has_flops_for_its_percent_of_peak():
    conv_rows = [row for row in layer_rows.ROWS if row.group.startswith("conv")]

    assert len(conv_rows) >= 20
    assert all(row.flops and row.flops > 0 for row in conv_rows)


def test_conv_flops_count_two_per_multiply_add_of_each_product():
    # a 1x1 conv is one (N*H*W, C_in) x (C_in, C_out) GEMM per product: forward, input
    # gradient, weight gradient
    row = _row("conv2d 1x1 256→64, 16²")

    assert row.flops == 3 * 2 * (64 * 16 * 16) * 256 * 64


def test_conv_flops_leave_out_the_input_gradient_of_an_image():
    row = _row("conv2d 1→32 k3, 28²→26² (MNIST, image in)")

    assert row.flops == 2 * 2 * (64 * 26 * 26) * 1 * 32 * 9


@pytest.mark.parametrize("name", SMALL_ROWS)
def test_small_row_agrees_with_pytorch_and_gives_samples_at_each_setting(name, monkeypatch):
    monkeypatch.setattr(layer_grid, "SETTLE_SECONDS", 0)  # the pauses matter to timing only
    row = _row(name)

    samples = layer_grid.measure_row(row, [None, 1], repeats=1)

    assert set(samples) == {(s, f) for s in (None, 1) for f in ("tinygen", "torch")}
    assert all(len(v) == 1 and v[0] > 0 for v in samples.values())


def test_dropout_check_rejects_a_gradient_through_dropped_elements():
    row = _row("dropout p=0.25, 64×12²")
    arrays = row.case.make_arrays()
    builds = {name: row.case.build(name, arrays) for name in ("tinygen", "torch")}

    with pytest.raises(AssertionError, match="input gradient"):
        layer_grid.check_dropout(row, builds, arrays[1] + 1)  # not the gradient it was given


def test_one_thread_setting_restores_torch_threads_afterwards():
    before = torch.get_num_threads()

    with layer_grid.thread_setting(1):
        inside = torch.get_num_threads()

    assert (inside, torch.get_num_threads()) == (1, before)


def test_render_gives_each_row_and_the_geometric_mean_of_ratios():
    rows = {name: {(s, f): [ms] for s in (None, 1) for f, ms in (("tinygen", 2.0),
                                                                  ("torch", 1.0))}
            for name in ("layer_norm 128", "conv2d 1x1 256→64, 16²")}

    text = layer_grid.render(rows, [None, 1], {None: 100.0, 1: 50.0}, repeats=1, stat="median")

    assert text.startswith("## Layer grid\n")
    assert "| layer_norm 128 | 2.00 | 1.00 | 2.00× | - |" in text
    assert "| 2.00 | 1.00 | 2.00× | 805% / 1611% |" in text  # 1.61 GFLOP in 2 and 1 ms
    assert "| **geometric mean of ratios** |  |  | **2.00×** |" in text


def test_thread_setting_must_be_default_or_a_positive_count():
    assert layer_grid.parse_setting("default") is None
    assert layer_grid.parse_setting("3") == 3
    with pytest.raises(argparse.ArgumentTypeError, match="got '0'"):
        layer_grid.parse_setting("0")
