"""What keeping freed host memory buys: each model's training step with glibc tuned by
``tinygen.backend.keep_freed_memory`` (the default on import) and left alone
(``TINYGEN_KEEP_FREED_MEMORY=0``).

The allocator setting is per process, so each measurement runs in a fresh interpreter (one
BLAS thread), the two settings alternating round after round; the PyTorch twin's step is
timed the same way in its own processes, untouched by tinygen's setting. Writes the "Host
memory" section of docs/BENCHMARKS.md.

    python -m benchmarks.host_memory [--rounds 3] [--only PixelCNN]
"""

from __future__ import annotations

import argparse
import datetime
import gc
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from benchmarks.report import machine, publish

HEADING = "## Host memory"

# run in the child: time the named step of benchmarks.twins.step_times, print the median ms
_CHILD = """
import statistics, sys, time
import torch
from threadpoolctl import threadpool_limits
from benchmarks.twins import step_times
torch.set_num_threads(1)
with threadpool_limits(1):
    ours, theirs = step_times.build_pair(next(n for n in step_times.STEPS if sys.argv[1] in n))
    step = ours if sys.argv[2] == "tinygen" else theirs
    step(); step()
    times = []
    for _ in range(int(sys.argv[3])):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
print(statistics.median(times))
"""


def _status_kib(field: str) -> int:
    """A "VmRSS"/"VmHWM"-style field of /proc/self/status, in KiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(f"_status_kib: no field {field!r} in /proc/self/status")


def peak_rss_above_mib(run: Callable[[], object], calls: int = 3) -> float:
    """MiB by which this process's resident set peaks over ``calls`` calls of ``run``, above
    its resident set just before them, less the files (library code) paged in meanwhile.

    The resident set counts what NumPy, torch and glibc hold alike (tracemalloc sees only
    NumPy's arrays, torch's allocator only torch's). Linux only: writing 5 to
    /proc/self/clear_refs resets the peak (VmHWM) to the current resident set, so memory
    touched earlier (imports, building the model) does not count. A first step also pages in
    the code of every kernel it calls (10-20 MiB of libtorch for a twin's step): that growth
    of RssFile is taken off. Run it in a fresh process: memory that an earlier measurement
    left mapped would be reused without showing.
    """
    gc.collect()
    rss, files = _status_kib("VmRSS"), _status_kib("RssFile")
    Path("/proc/self/clear_refs").write_text("5")
    for _ in range(calls):
        run()
    return (_status_kib("VmHWM") - rss - max(_status_kib("RssFile") - files, 0)) / 1024


def _time_in_fresh_process(row: str, which: str, keep: bool, repeats: int) -> float:
    env = {**os.environ, "TINYGEN_KEEP_FREED_MEMORY": "1" if keep else "0",
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-c", _CHILD, row, which, str(repeats)],
                            capture_output=True, text=True, check=True, env=env)
    return float(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="fresh processes per setting")
    parser.add_argument("--repeats", type=int, default=9, help="timed steps per process")
    parser.add_argument("--only", nargs="*", default=["PixelCNN", "DCGAN", "MLP VAE"],
                        help="rows of benchmarks.twins.step_times to time (name fragments)")
    parser.add_argument("--no-write", action="store_true", help="do not update the doc")
    args = parser.parse_args()
    lines = ["| training step | tinygen, allocator left alone ms | tinygen, freed memory kept "
             "ms | ratio | PyTorch twin ms |", "|---|---:|---:|---:|---:|"]
    for row in args.only:
        times: dict = {"alone": [], "kept": [], "torch": []}
        for _ in range(args.rounds):
            times["alone"].append(_time_in_fresh_process(row, "tinygen", False, args.repeats))
            times["kept"].append(_time_in_fresh_process(row, "tinygen", True, args.repeats))
            times["torch"].append(_time_in_fresh_process(row, "torch", False, args.repeats))
        alone, kept, torch_ms = (statistics.median(times[key]) for key in times)
        lines.append(f"| {row} | {alone:.1f} | {kept:.1f} | {kept / alone:.2f}x | "
                     f"{torch_ms:.1f} |")
        print(lines[-1], flush=True)
    section = "\n".join([
        HEADING, "",
        "`python -m benchmarks.host_memory`: median ms per Adam step (the steps of "
        "`benchmarks.twins.step_times`), each figure the median over "
        f"{args.rounds} fresh processes of {args.repeats} steps, one BLAS/torch thread, the "
        "settings alternating. tinygen asks glibc at import to keep freed blocks up to 32 MiB "
        "and 512 MiB of free heap (`tinygen.backend.keep_freed_memory`); "
        "`TINYGEN_KEEP_FREED_MEMORY=0` leaves the allocator alone. The PyTorch column is the "
        "twin's step in its own processes, allocator left alone.", "",
        f"- Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end; "
        f"{datetime.date.today()}", "",
        *lines, ""])
    publish(section, write=not args.no_write)


if __name__ == "__main__":
    main()
