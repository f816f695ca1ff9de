"""Mutation testing for tinygen's autograd and optimizers: do the tests catch real bugs?

Each mutant in ``tools/mutants.py`` is one realistic slip (a flipped sign, a missing factor,
a wrong axis, a detached saved value, a swapped stride, an off-by-one) written as an exact
text replacement in one file. The script copies the committed tree (``git archive HEAD``,
or the working tree with ``--worktree``) to a folder under /tmp, checks that the tests it
will use pass there, then applies the mutants one at a time to that copy, runs the tests
mapped to the mutated file (``-x``, Hypothesis' ``ci`` profile), and restores the file.
/work's tree is never written to, except for the report.

A mutant is *killed* when a test fails (or the run exceeds its time limit), *survives*
when every test passes, and is *stale* when its text is no longer in the file (the code
moved on: update the catalogue). Mutants marked equivalent (no test can tell them apart:
the output is the same) are run too, so a wrong mark shows as "equivalent, but killed",
and are left out of the kill rate.

By default torch is hidden from the tests, as ``make test`` installs them (torch is an
oracle in tests/parity, an optional extra): the rate measures the suite every clone runs.
``--with-torch`` lets the parity tests count too.

Usage:
    python tools/mutate.py                         # every mutant, a summary on stdout
    python tools/mutate.py --report docs/MUTATION.md
    python tools/mutate.py --match pooling --match optimizer  # ids containing either
    python tools/mutate.py --list                  # the catalogue, nothing run
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mutants import MUTANTS, Mutant  # noqa: E402 - the catalogue beside this script

ROOT = Path(__file__).resolve().parents[1]
REGISTRY = "tests/autograd/test_ops_registry.py"
REGISTRY_CASE = REGISTRY + "::test_op_matches_reference_and_passes_gradient_checks[{}]"
# two single tests first, quick: the engine's error path and apply's mixed-float refusal
ENGINE_TESTS = ["tests/debug/test_learner_stumbles.py::"
                "test_a_backward_that_returns_a_numpy_array_is_a_type_error_naming_the_op",
                "tests/autograd/test_malformed_inputs.py::"
                "test_matmul_refuses_float32_with_float64_as_pytorch_does",
                "tests/autograd/test_engine.py", "tests/autograd/test_tensor.py",
                "tests/autograd/test_mutation.py", "tests/autograd/test_view_writes.py",
                "tests/autograd/test_inplace_values.py",
                "tests/autograd/test_gradient_dtypes.py", "tests/autograd/test_gradcheck.py",
                "tests/autograd/test_backward_on_arrays.py", "tests/autograd/test_owned_grads.py",
                "tests/autograd/test_ties.py", REGISTRY, "tests/autograd/test_invariants.py"]
KINKS = "tests/autograd/test_gradients_at_kinks.py"
# the update rules' written forms first (quick, and they name the term that is wrong)
OPTIMIZER_TESTS = ["tests/optim/test_update_rules.py", "tests/optim/test_step_in_place.py",
                   "tests/optim/test_optimizers.py"]
POOLING_TESTS = ["tests/autograd/ops/test_pooling_passes.py",
                 "tests/autograd/ops/test_pooling_winners.py", "tests/autograd/ops/test_pooling.py",
                 "tests/autograd/ops/test_pooling_threads.py", "tests/autograd/test_ties.py"]
# batch norm, the fused layer norm and the passes they share (blocks, laid-out operands)
NORMALIZATION_TESTS = ["tests/autograd/ops/test_normalization.py",
                       "tests/autograd/ops/test_batch_norm_blocks.py",
                       "tests/autograd/ops/test_layer_norm_fused.py",
                       "tests/autograd/ops/test_batch_norm_running_stats.py",
                       "tests/nn/test_normalization_layers.py"]
# kills of mutants in the kernels rewritten for speed that the other tests let survive
SPEED_KILLS = "tests/autograd/ops/test_mutation_kills_speed_paths.py"
# The tests each mutated file is checked with, fastest-failing first; an ops file also gets
# the registry cases of the ops its module defines (found by importing the registry).
TESTS = {
    "tinygen/autograd/engine.py": ENGINE_TESTS,
    "tinygen/autograd/function.py": ENGINE_TESTS,
    "tinygen/autograd/tensor.py": ENGINE_TESTS,
    "tinygen/autograd/ops/elementwise.py": ["tests/autograd/ops/test_elementwise_math.py",
                                            "tests/autograd/test_ties.py", KINKS,
                                            "tests/autograd/test_gradient_dtypes.py"],
    "tinygen/autograd/ops/conversion.py": ["tests/autograd/test_gradient_dtypes.py",
                                           "tests/autograd/test_tensor.py",
                                           "tests/autograd/ops/test_elementwise_math.py"],
    "tinygen/autograd/ops/special.py": ["tests/autograd/ops/test_elementwise_math.py", KINKS],
    "tinygen/autograd/ops/activation.py": [
        "tests/autograd/ops/test_activation.py", KINKS,
        REGISTRY + "::test_activation_is_finite_and_correct_at_extreme_inputs"],
    "tinygen/autograd/ops/reduction.py": ["tests/autograd/ops/test_reduction.py",
                                          "tests/autograd/test_ties.py"],
    "tinygen/autograd/ops/norms.py": ["tests/autograd/ops/test_norms.py",
                                      "tests/autograd/ops/test_reduction.py"],
    "tinygen/autograd/ops/shape.py": ["tests/autograd/ops/test_shape.py",
                                      "tests/autograd/ops/test_shape_adjoints.py"],
    "tinygen/autograd/ops/tiling.py": ["tests/autograd/ops/test_shape.py"],
    "tinygen/autograd/ops/indexing.py": ["tests/autograd/ops/test_indexing.py"],
    "tinygen/autograd/ops/linalg.py": ["tests/autograd/ops/test_linalg.py"],
    "tinygen/autograd/ops/decomposition.py": ["tests/autograd/ops/test_decomposition.py"],
    "tinygen/autograd/ops/conv/winograd.py": ["tests/autograd/ops/test_conv_winograd.py"],
    "tinygen/autograd/ops/conv/": ["tests/autograd/ops/test_conv.py",
                                   "tests/nn/test_layers.py"],
    "tinygen/autograd/ops/pooling.py": POOLING_TESTS,
    "tinygen/autograd/ops/pooling_passes.py": POOLING_TESTS,
    "tinygen/autograd/ops/pooling_adaptive.py": ["tests/autograd/ops/test_pooling.py"],
    "tinygen/autograd/ops/upsampling.py": ["tests/autograd/ops/test_upsampling.py"],
    "tinygen/autograd/ops/normalization.py": NORMALIZATION_TESTS,
    "tinygen/autograd/ops/normalization_layer.py": NORMALIZATION_TESTS,
    "tinygen/autograd/ops/normalization_passes.py": NORMALIZATION_TESTS,
    "tinygen/autograd/ops/embedding.py": ["tests/autograd/ops/test_indexing_embedding_rows.py",
                                          "tests/autograd/ops/test_indexing.py"],
    "tinygen/autograd/ops/loss/classification.py": [
        "tests/autograd/ops/test_loss_picked_nll.py", SPEED_KILLS,
        "tests/autograd/ops/test_loss.py", "tests/nn/test_loss_modules.py"],
    "tinygen/autograd/ops/loss/": ["tests/autograd/ops/test_loss.py",
                                   "tests/nn/test_loss_modules.py"],
    "tinygen/autograd/ops/recurrent.py": ["tests/autograd/ops/test_recurrent.py"],
    "tinygen/autograd/ops/recurrent_sequence.py": [
        "tests/autograd/ops/test_recurrent_sequence.py", "tests/nn/test_recurrent_layers.py"],
    "tinygen/autograd/ops/dropout.py": ["tests/autograd/ops/test_dropout.py"],
    "tinygen/autograd/ops/arguments.py": ["tests/autograd/test_backward_on_arrays.py",
                                          "tests/autograd/test_gradient_dtypes.py"],
    "tinygen/optim/optimizer.py": OPTIMIZER_TESTS,
    "tinygen/backend.py": ["tests/autograd/ops/test_conv_blocks.py",
                           "tests/autograd/ops/test_pooling_threads.py",
                           "tests/optim/test_step_in_place.py", "tests/test_backend.py"],
    "tinygen/optim/sgd.py": OPTIMIZER_TESTS,
    "tinygen/optim/adam.py": OPTIMIZER_TESTS,
    "tinygen/optim/rmsprop.py": OPTIMIZER_TESTS,
    "tinygen/optim/adaptive.py": OPTIMIZER_TESTS,
    "tinygen/optim/averaging.py": ["tests/optim/test_averaging.py"],
    "tinygen/optim/lr_scheduler.py": ["tests/optim/test_lr_scheduler.py",
                                      "tests/optim/test_lr_schedule_formulas.py"],
    "tinygen/optim/schedule_arguments.py": ["tests/optim/test_lr_scheduler.py",
                                            "tests/optim/test_malformed_optim.py",
                                            "tests/optim/test_mutant_kills.py"],
    "tinygen/optim/clip.py": ["tests/optim/test_optimizers.py"],
}
# a file of passes whose registry cases are those of the ops built on it
SPEC_SOURCE = {"tinygen/autograd/ops/pooling_passes.py": "tinygen/autograd/ops/pooling",
               "tinygen/autograd/ops/normalization_layer.py": "tinygen/autograd/ops/normalization",
               "tinygen/autograd/ops/normalization_passes.py":
                   "tinygen/autograd/ops/normalization",
               "tinygen/autograd/ops/embedding.py": "tinygen/autograd/ops/indexing"}
BEGIN = "<!-- generated by tools/mutate.py: begin -->\n"
END = "<!-- generated by tools/mutate.py: end -->\n"
_SPEC_MODULES = """
import json
from tinygen.testing import all_specs
print(json.dumps({s.name: getattr(s.function, "__module__", "") or "" for s in all_specs()}))
"""
# a missing module, as where torch is not installed (pytest.importorskip skips on exactly this)
_NO_TORCH = ('raise ModuleNotFoundError("torch is hidden by tools/mutate.py, as make test '
             'installs the suite", name="torch")\n')


@dataclass
class Outcome:
    mutant: Mutant
    status: str  # killed, survived, stale, timeout
    by: str = ""  # the first failing test
    seconds: float = 0.0


# --------------------------------------------------------------------------- the copy
def make_copy(worktree: bool, hide_torch: bool) -> Path:
    """The tree under a fresh /tmp folder, with a shim that hides torch when asked."""
    folder = Path(tempfile.mkdtemp(prefix="tinygen-mutate-"))
    if worktree:
        listed = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"],
                                cwd=ROOT, check=True, capture_output=True).stdout
        for name in filter(None, listed.decode().split("\0")):
            source, target = ROOT / name, folder / name
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
    else:
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    if hide_torch:
        shim = folder / ".mutate_shims" / "torch"
        shim.mkdir(parents=True)
        (shim / "__init__.py").write_text(_NO_TORCH)
    return folder


def environment(copy: Path) -> dict:
    """The copy's own package first on the path (ahead of the editable install), no
    bytecode (a mutant of the same size and second would reuse a stale .pyc)."""
    paths = [str(copy / ".mutate_shims"), str(copy)]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "PYTHONDONTWRITEBYTECODE": "1",
            "HYPOTHESIS_PROFILE": "ci", "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def check_copy_is_imported(copy: Path) -> None:
    found = subprocess.run([sys.executable, "-c", "import tinygen; print(tinygen.__file__)"],
                           cwd=copy, env=environment(copy), check=True, capture_output=True,
                           text=True).stdout.strip()
    if not Path(found).resolve().is_relative_to(copy.resolve()):
        sys.exit(f"mutate: the tests would import {found}, not the copy in {copy}")


def spec_modules(copy: Path) -> dict:
    """Registry spec name -> the module that defines the op it checks."""
    out = subprocess.run([sys.executable, "-c", _SPEC_MODULES], cwd=copy,
                         env=environment(copy), check=True, capture_output=True, text=True)
    return json.loads(out.stdout)


# --------------------------------------------------------------------------- selection
def selection(path: str, specs: dict) -> list[str]:
    """The pytest arguments for a mutated file: its tests, then its ops' registry cases."""
    key = next((k for k in TESTS if path == k or (k.endswith("/") and path.startswith(k))),
               None)
    if key is None:
        raise SystemExit(f"mutate: no tests are mapped to {path}: add it to TESTS")
    chosen = list(TESTS[key])
    if REGISTRY in chosen or not path.startswith("tinygen/autograd/ops/"):
        return chosen
    module = SPEC_SOURCE.get(path, path[:-3]).replace("/", ".")
    package = key[:-1].replace("/", ".") if key.endswith("/") else module
    names = [n for n, m in specs.items() if m == module] or [
        n for n, m in specs.items() if m.startswith(package)]
    return chosen + [REGISTRY_CASE.format(name) for name in sorted(names)]


def run_tests(copy: Path, args: list[str], timeout: float) -> tuple[str, str, float]:
    """(passed | failed | timeout, the first failing test, seconds)."""
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
               "--no-header", "-o", "addopts=", "-rf", *args]
    start = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=copy, env=environment(copy), capture_output=True,
                              text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", "", time.perf_counter() - start
    seconds = time.perf_counter() - start
    if done.returncode == 0:
        return "passed", "", seconds
    failed = [line.split(" ", 2)[1] for line in done.stdout.splitlines()
              if line.startswith(("FAILED ", "ERROR "))]
    if done.returncode not in (1, 2) or not failed:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        return "failed", f"pytest exit {done.returncode}: {tail[-300:]}", seconds
    return "failed", failed[0], seconds


# --------------------------------------------------------------------------- running
def apply(copy: Path, mutant: Mutant) -> str | None:
    """The file's original text after writing the mutant into it, or None if stale."""
    target = copy / mutant.path
    original = target.read_text() if target.exists() else ""
    if original.count(mutant.find) != 1:
        return None
    target.write_text(original.replace(mutant.find, mutant.replace))
    return original


def baseline(copy: Path, selections: dict) -> dict:
    """Each distinct selection's time on the unmutated copy; exits if any fails."""
    seconds = {}
    for args in {tuple(a) for a in selections.values()}:
        status, by, took = run_tests(copy, list(args), timeout=1800)
        if status != "passed":
            sys.exit(f"mutate: the unmutated tree fails {by} ({status}); fix that first")
        seconds[args] = took
    return seconds


def run(mutants: list[Mutant], copy: Path) -> list[Outcome]:
    specs = spec_modules(copy)
    selections = {m.id: selection(m.path, specs) for m in mutants}
    print(f"baseline: {len({tuple(a) for a in selections.values()})} test selections",
          flush=True)
    durations = baseline(copy, selections)
    outcomes = []
    for number, mutant in enumerate(mutants, start=1):
        original = apply(copy, mutant)
        if original is None:
            outcome = Outcome(mutant, "stale")
        else:
            args = selections[mutant.id]
            try:
                limit = 3 * durations[tuple(args)] + 60
                status, by, took = run_tests(copy, args, limit)
            finally:
                (copy / mutant.path).write_text(original)
            verdict = {"failed": "killed", "passed": "survived"}.get(status, status)
            outcome = Outcome(mutant, verdict, by, took)
        outcomes.append(outcome)
        mark = " (marked equivalent)" if mutant.equivalent else ""
        print(f"[{number:3d}/{len(mutants)}] {outcome.status:8s} {mutant.id:28s} "
              f"{outcome.seconds:5.1f}s {outcome.by}{mark}", flush=True)
    return outcomes


# --------------------------------------------------------------------------- the report
def tally(outcomes: list[Outcome]) -> dict:
    counted = [o for o in outcomes if o.status != "stale" and not o.mutant.equivalent]
    killed = sum(o.status in ("killed", "timeout") for o in counted)
    return {
        "mutants": len(outcomes),
        "stale": sum(o.status == "stale" for o in outcomes),
        "equivalent": sum(bool(o.mutant.equivalent) and o.status != "stale" for o in outcomes),
        "counted": len(counted), "killed": killed, "survived": len(counted) - killed,
        "rate": killed / len(counted) if counted else 0.0,
    }


def area(mutant: Mutant) -> str:
    return mutant.id.split(".")[0]


def report(outcomes: list[Outcome], options, commit: str, minutes: float) -> str:
    totals = tally(outcomes)
    lines = [
        "## The latest run",
        "",
        f"Run on {datetime.date.today().isoformat()} at commit `{commit}`"
        f"{' plus uncommitted changes' if options.worktree else ''}, "
        f"{'with torch (parity tests count)' if options.with_torch else 'torch hidden'} "
        f"(as `make test` installs the suite), Hypothesis profile `ci`, in "
        f"{minutes:.0f} minutes on this machine.",
        "",
        f"**{totals['killed']} of {totals['counted']} non-equivalent mutants killed: "
        f"{100 * totals['rate']:.1f}%.** ({totals['mutants']} mutants: "
        f"{totals['equivalent']} equivalent, {totals['stale']} stale.)",
        "",
        "| area | mutants | killed | survived | equivalent | stale |",
        "|---|---|---|---|---|---|",
    ]
    for name in dict.fromkeys(area(o.mutant) for o in outcomes):
        group = tally([o for o in outcomes if area(o.mutant) == name])
        lines.append(f"| {name} | {group['mutants']} | {group['killed']} | "
                     f"{group['survived']} | {group['equivalent']} | {group['stale']} |")
    survivors = [o for o in outcomes if o.status == "survived" and not o.mutant.equivalent]
    lines += ["", "### Survivors", ""]
    lines += [f"- `{o.mutant.id}` ({o.mutant.path}): {o.mutant.what}. "
              f"{o.mutant.note or 'No explanation recorded: strengthen a test.'}"
              for o in survivors] or ["None."]
    lines += ["", "### Equivalent mutants (left out of the rate)", ""]
    lines += [f"- `{o.mutant.id}` ({o.mutant.path}): {o.mutant.what}. *Why:* "
              f"{o.mutant.equivalent}."
              + (" **Killed anyway: the mark is wrong.**" if o.status == "killed" else "")
              for o in outcomes if o.mutant.equivalent] or ["None."]
    stale = [o for o in outcomes if o.status == "stale"]
    if stale:
        lines += ["", "### Stale mutants (their text is gone: update tools/mutants.py)", ""]
        lines += [f"- `{o.mutant.id}` ({o.mutant.path})" for o in stale]
    lines += ["", "### Every mutant", "", "| id | file | the bug | result | first failing test |",
              "|---|---|---|---|---|"]
    for o in outcomes:
        result = "equivalent" if o.mutant.equivalent and o.status == "survived" else o.status
        by = o.by.replace("|", "\\|")
        lines.append(f"| `{o.mutant.id}` | {o.mutant.path} | {o.mutant.what} | {result} | "
                     f"{by} |")
    return "\n".join(lines)


def write_report(path: Path, generated: str) -> None:
    """Put ``generated`` between the file's markers, keeping the hand-written text around
    them (a new file gets a title and the markers)."""
    text = path.read_text() if path.exists() else "# Mutation testing\n\n" + BEGIN + END
    if BEGIN not in text or END not in text:
        sys.exit(f"mutate: {path} lacks the markers {BEGIN.strip()} and {END.strip()}")
    head, rest = text.split(BEGIN, 1)
    path.write_text(head + BEGIN + generated + "\n" + END + rest.split(END, 1)[1])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--match", action="append", default=[],
                        help="run only mutants whose id contains this (repeatable)")
    parser.add_argument("--worktree", action="store_true",
                        help="copy the working tree (uncommitted changes too), not HEAD")
    parser.add_argument("--with-torch", action="store_true",
                        help="let the tests import torch (tests/parity then counts)")
    parser.add_argument("--report", type=Path, help="write the Markdown report here")
    parser.add_argument("--keep", action="store_true", help="keep the copy under /tmp")
    parser.add_argument("--list", action="store_true", help="print the catalogue and stop")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    options = parse_args(argv)
    chosen = [m for m in MUTANTS if not options.match or any(s in m.id for s in options.match)]
    if options.list:
        for mutant in chosen:
            print(f"{mutant.id:28s} {mutant.path}: {mutant.what}")
        return 0
    if not chosen:
        sys.exit(f"mutate: no mutant id contains any of {options.match}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    copy = make_copy(options.worktree, not options.with_torch)
    print(f"copy: {copy}", flush=True)
    start = time.perf_counter()
    try:
        check_copy_is_imported(copy)
        outcomes = run(chosen, copy)
    finally:
        if not options.keep:
            shutil.rmtree(copy, ignore_errors=True)
    totals = tally(outcomes)
    print(f"killed {totals['killed']} of {totals['counted']} non-equivalent mutants "
          f"({100 * totals['rate']:.1f}%); {totals['equivalent']} equivalent, "
          f"{totals['stale']} stale")
    if options.report:
        minutes = (time.perf_counter() - start) / 60
        write_report(options.report, report(outcomes, options, commit, minutes))
        print(f"report: {options.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
