"""benchmarks.host_memory.peak_rss_above_mib and the Training steps table of step_times."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
linux_proc = pytest.mark.skipif(not os.path.exists("/proc/self/clear_refs"),
                                reason="needs Linux's /proc/self/clear_refs")


def _peak_in_fresh_process(setup: str, run: str) -> float:
    # a fresh process: heap that earlier tests freed would serve the arrays without showing
    code = ("import numpy as np\n"
            "from benchmarks.host_memory import peak_rss_above_mib\n"
            f"{setup}\n"
            f"print(peak_rss_above_mib(lambda: {run}, calls=2))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, cwd=ROOT)
    return float(result.stdout)


@linux_proc
def test_peak_counts_memory_touched_and_freed_during_the_calls():
    peak = _peak_in_fresh_process("", "np.ones(64 * 2 ** 20 // 8)")  # 64 MiB, freed at once

    assert 60 <= peak <= 80


@linux_proc
def test_peak_leaves_out_memory_touched_before_the_calls():
    peak = _peak_in_fresh_process("kept = np.ones(64 * 2 ** 20 // 8)", "kept.sum()")

    assert peak < 16


def test_training_steps_table_gives_time_ratios_per_setting_and_memory():
    pytest.importorskip("torch")
    step_times = pytest.importorskip("benchmarks.twins.step_times")
    samples = {(s, f): [ms] for s in (None, 1) for f, ms in (("tinygen", 30.0), ("torch", 20.0))}

    text = step_times.render([("MLP VAE", samples, (40.0, 20.0))], [None, 1], repeats=1)

    assert text.startswith("## Training steps\n")
    assert "| MLP VAE | 30.0 | 20.0 | 1.50× | 30.0 | 20.0 | 1.50× | 40 | 20 | 2.00× |" in text
