"""Every op tinygen shares with PyTorch, on PyTorch's own OpInfo samples: forward, VJP and
double backward at float64 tolerances (see tests/conformance/harness.py).

One test per op (not per sample: there are thousands), each running all of the op's samples
and listing every failing one. At most SAMPLE_CAP samples per op, spread evenly over the
op's list, keep the module within about two minutes on two cores. The slow reference-inputs
test runs every sample of PyTorch's ``reference_inputs`` (extremal values, odd strides, large
tensors) outside the ci profile, or with CONFORMANCE_REFERENCE=1.
"""

import os

import pytest

torch = pytest.importorskip("torch")

from .harness import SAMPLE_CAP, run_op  # noqa: E402 - only once torch is known to be there
from .known_failures import KNOWN_FAILURES, OWNERS  # noqa: E402
from .mapping import targets  # noqa: E402

pytestmark = pytest.mark.parity

TARGETS = targets()
_REFERENCE = os.environ.get("CONFORMANCE_REFERENCE") == "1" or \
    os.environ.get("HYPOTHESIS_PROFILE", "dev") != "ci"


class KnownMismatch(Exception):
    """The failure KNOWN_FAILURES records for this op, sample count and all."""


def _known_count(key: str, reference: bool) -> int:
    known = KNOWN_FAILURES.get(key)
    if known is None:
        return 0
    return known.reference if reference else known.samples


def _params(reference: bool) -> list:
    params = []
    for target in TARGETS:
        marks = ()
        if _known_count(target.key, reference):
            marks = pytest.mark.xfail(strict=True, raises=KnownMismatch,
                                      reason=KNOWN_FAILURES[target.key].reason)
        params.append(pytest.param(target, id=target.key, marks=marks))
    return params


def _check(result, reference: bool, limit: int = 20) -> None:
    """Raise KnownMismatch for exactly the recorded failure, fail for any other."""
    if not result.failed:
        return
    lines = [f"{result.key} ({result.label}): {result.failed} of {result.samples} samples "
             f"fail"]
    lines += [f"  {failure}" for failure in result.failures[:limit]]
    if len(result.failures) > limit:
        lines.append(f"  ... and {len(result.failures) - limit} more")
    expected = _known_count(result.key, reference)
    if result.failed == expected:
        raise KnownMismatch("\n".join(lines))
    if expected:
        lines.append(f"KNOWN_FAILURES expects {expected} failing samples here: update it")
    pytest.fail("\n".join(lines), pytrace=False)


@pytest.mark.parametrize("target", _params(reference=False))
def test_op_matches_torch_on_its_samples(target):
    result = run_op(target, limit=SAMPLE_CAP)

    _check(result, reference=False)


@pytest.mark.slow
@pytest.mark.skipif(not _REFERENCE, reason="reference inputs run outside the ci profile "
                                           "(or with CONFORMANCE_REFERENCE=1)")
@pytest.mark.parametrize("target", _params(reference=True))
def test_op_matches_torch_on_reference_inputs(target):
    result = run_op(target, reference=True)

    _check(result, reference=True)


def test_known_failures_name_exposed_ops_with_owner_reason_and_count():
    keys = {target.key for target in TARGETS}
    stale = sorted(set(KNOWN_FAILURES) - keys)
    incomplete = sorted(key for key, known in KNOWN_FAILURES.items()
                        if known.owner not in OWNERS or not known.reason.strip()
                        or known.samples < 0 or known.reference < 0
                        or known.samples + known.reference == 0)

    assert not stale, f"KNOWN_FAILURES names ops tinygen no longer exposes: {stale}"
    assert not incomplete, f"KNOWN_FAILURES entries without an owner, a reason or a " \
                           f"failing count: {incomplete}"
