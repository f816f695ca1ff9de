"""benchmarks.twins.example_steps: the PyTorch programs timed on both frameworks."""

import statistics

import pytest

pytest.importorskip("torch")

from benchmarks.twins import example_steps  # noqa: E402


def test_every_program_in_the_folder_has_a_row():
    programs = {path.stem for path in example_steps.EXAMPLES.glob("*.py")}

    assert {name for name, _ in example_steps.PROGRAMS.values()} == programs


def test_load_renames_the_imports_for_torch_only():
    ours, theirs = (example_steps.load("autoencoder", f) for f in ("tinygen", "torch"))

    assert ours.torch.__name__ == "tinygen"
    assert theirs.torch.__name__ == "torch"
    assert theirs.default_split.__module__.startswith("tinygen.data")  # the data source stays


@pytest.mark.parametrize("framework, name", [("jax", "vae"), ("torch", "no_such_program")])
def test_load_names_a_bad_framework_or_program(framework, name):
    with pytest.raises((ValueError, FileNotFoundError), match="load: .*" + (
            framework if framework == "jax" else name)):
        example_steps.load(name, framework)


def test_a_row_times_both_frameworks_and_renders_their_ratio(monkeypatch):
    monkeypatch.setattr(example_steps, "SAMPLE_SECONDS", 0.01)
    monkeypatch.setattr(example_steps, "settle", lambda warm_up: warm_up())
    row = next(row for row in example_steps.PROGRAMS if row.startswith("autoencoder"))

    samples = example_steps.time_program(row, [1], repeats=2)
    table = example_steps.render([(row, samples)], [1], repeats=2)

    assert all(len(samples[1, framework]) == 2 for framework in example_steps.FRAMEWORKS)
    assert all(ms > 0 for values in samples.values() for ms in values)
    ours, theirs = (statistics.median(samples[1, f]) for f in example_steps.FRAMEWORKS)
    assert table.splitlines()[-1] == (f"| {row} | {ours:.1f} | {theirs:.1f} | "
                                      f"{ours / theirs:.2f}× |")
