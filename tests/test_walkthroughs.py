"""The walkthroughs in docs/walkthroughs run as doctests, so their printed output never rots."""

import doctest
from pathlib import Path

import pytest

WALKTHROUGHS = sorted((Path(__file__).parent.parent / "docs" / "walkthroughs").glob("*.md"))


@pytest.mark.parametrize("path", WALKTHROUGHS, ids=[p.stem for p in WALKTHROUGHS])
def test_walkthrough_runs_and_prints_what_it_shows(path):
    result = doctest.testfile(str(path), module_relative=False,
                              optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0, f"{path.name}: {result.failed} example(s) failed"
