"""A run report in a real browser (the system Chromium driven by Playwright): every picture
loads, the slider moves through the sample grids, and the page logs no error.

Skipped without them (apt-get install chromium; pip install -e .[browser]).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the toy run of test_report
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "debug"))  # its Chromium page
from test_replay_browser import chromium_page  # noqa: E402
from test_report import a_run  # noqa: E402

pytestmark = pytest.mark.browser


def test_the_report_opens_with_every_picture_and_a_working_slider(tmp_path):
    path = a_run(tmp_path)  # three grids over training (steps 10, 20, 30) and one picture

    with chromium_page(1200, 900) as (page, errors):
        page.goto(path.as_uri())
        page.wait_for_load_state("load")
        sizes = page.eval_on_selector_all(
            "img", "images => images.map(image => [image.complete, image.naturalWidth])")
        shown_at_start = page.text_content("#snapshot-label")
        visible = []
        for index in (0, 1, 2):
            page.eval_on_selector("#snapshot-slider", "(slider, index) => { slider.value = "
                                  "index; slider.dispatchEvent(new Event('input')); }", index)
            visible.append((page.text_content("#snapshot-label"), page.eval_on_selector_all(
                ".snapshot", "frames => frames.filter(f => !f.hidden).map(f => f.dataset.step)")))
        charts = page.eval_on_selector_all("svg polyline", "lines => lines.length")

    assert len(sizes) == 4 and all(done and width > 0 for done, width in sizes), sizes
    assert shown_at_start == "step 30 (3 of 3)"  # the latest grid first
    assert visible == [("step 10 (1 of 3)", ["10"]), ("step 20 (2 of 3)", ["20"]),
                       ("step 30 (3 of 3)", ["30"])]
    assert charts == 2  # loss and fid
    assert errors == []
