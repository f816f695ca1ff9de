"""tinygen.debug.replay in a real browser: the system Chromium driven by Playwright.

Skipped without them (apt-get install chromium graphviz; pip install -e .[browser]). Run as a
script, this file also measures the PixelCNN replay (file size, first paint, time per step)
and writes the screenshots in docs/figures:

    PYTHONPATH=. python tests/debug/test_replay_browser.py
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

import tinygen as tg
import tinygen.nn as nn
from models import pixelcnn
from tinygen import debug
from tinygen.autograd import topological_order

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.browser

# headless, and quiet: without the networking flags Chromium keeps calling a closed network
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextmanager
def chromium_page(width=1400, height=900):
    """A fresh Chromium page, and the list its console errors and page errors land in."""
    from playwright.sync_api import sync_playwright

    executable = os.environ.get("TINYGEN_CHROMIUM") or shutil.which("chromium")
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=executable, args=CHROMIUM_ARGS, headless=True,
            viewport={"width": width, "height": height})
        page = context.new_page()
        errors: list = []
        page.on("console", lambda message: message.type == "error" and errors.append(
            message.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            yield page, errors
        finally:
            context.close()


def walkthrough_mlp():
    """The MLP of docs/walkthroughs/06_replay.md: 3 -> 4 (tanh) -> 1, squared error."""
    tg.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))
    x, y = tg.randn(5, 3), tg.randn(5, 1)
    with debug.record():
        loss = ((model(x) - y) ** 2).mean()
    return model, loss


def small_pixelcnn(channels=8, blocks=2, batch=2, side=12):
    tg.manual_seed(0)
    model = pixelcnn.PixelCNN(channels=channels, blocks=blocks, head=channels)
    pixels = np.random.default_rng(0).random((batch, 1, side, side)) > 0.5
    with debug.record():
        loss = pixelcnn.nll_per_image(model, tg.tensor(pixels.astype(np.float32))).mean()
    return model, loss


def shown_accumulated(page) -> dict:
    """{parameter name: values} of the accumulated gradients the current step shows."""
    boxes = page.locator('[data-role="accumulated"][data-values]')
    return {boxes.nth(i).get_attribute("data-name"): json.loads(
        boxes.nth(i).get_attribute("data-values")) for i in range(boxes.count())}


def test_stepping_the_mlp_backward_shows_each_parameters_grad(tmp_path):
    model, loss = walkthrough_mlp()
    path = debug.replay(loss, tmp_path / "mlp.html", model=model)
    loss.backward()
    with chromium_page() as (page, errors):
        page.goto(path.as_uri())
        forward = page.evaluate("tinygenReplay.forwardCount")
        total = page.evaluate("tinygenReplay.total")
        for _ in range(forward):
            page.keyboard.press("ArrowRight")
        assert page.get_attribute("body", "data-phase") == "backward"
        last_shown: dict = {}
        for step in range(forward, total):
            assert int(page.get_attribute("body", "data-step")) == step
            assert page.locator(".node.current").count() == 1
            last_shown.update({k: v for k, v in shown_accumulated(page).items() if k})
            if step % 2:  # alternate the arrow key and the button
                page.keyboard.press("ArrowRight")
            else:
                page.click("#next")
        assert int(page.get_attribute("body", "data-step")) == total - 1  # stays at the end
        assert errors == []
    for name, parameter in model.named_parameters():
        np.testing.assert_allclose(last_shown[name], parameter.grad.numpy().reshape(-1),
                                   rtol=1e-6)


def test_the_backprop_by_hand_network_ends_at_its_grads(tmp_path):
    rng = np.random.default_rng(0)  # docs/walkthroughs/01: raw tensors, 1-D matmuls
    x = tg.tensor(rng.standard_normal(3))
    W1 = tg.tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w2 = tg.tensor(rng.standard_normal(4), requires_grad=True)
    W1.name, w2.name = "W1", "w2"
    with debug.record():
        loss = ((w2 @ (W1 @ x).tanh()) - 0.5) ** 2
    path = debug.replay(loss, tmp_path / "by_hand.html")
    loss.backward()
    with chromium_page() as (page, errors):
        page.goto(path.as_uri())
        page.keyboard.press("End")
        boxes = page.locator('[data-role="grad"]')
        shown = {boxes.nth(i).get_attribute("data-name"): json.loads(
            boxes.nth(i).get_attribute("data-values")) for i in range(boxes.count())}
        assert errors == []
    np.testing.assert_allclose(shown["W1"], W1.grad.numpy().reshape(-1), rtol=1e-12)
    np.testing.assert_allclose(shown["w2"], w2.grad.numpy(), rtol=1e-12)


def test_slider_and_buttons_move_to_any_step(tmp_path):
    model, loss = walkthrough_mlp()
    path = debug.replay(loss, tmp_path / "mlp.html", model=model)
    with chromium_page() as (page, errors):
        page.goto(path.as_uri())
        page.locator("#slider").fill("3")
        assert page.get_attribute("body", "data-step") == "3"
        assert page.locator("#details h2").inner_text().startswith("Forward 4 of")
        page.click("#last")
        total = page.evaluate("tinygenReplay.total")
        assert page.get_attribute("body", "data-step") == str(total - 1)
        assert page.locator('[data-role="grad"]').count() == 4  # the four parameters' .grad
        page.click("#prev")
        assert page.get_attribute("body", "data-step") == str(total - 2)
        page.keyboard.press("Home")
        assert page.get_attribute("body", "data-step") == "0"
        assert errors == []


def test_pixelcnn_replay_folds_by_module_and_unfolds_on_click(tmp_path):
    model, loss = small_pixelcnn(blocks=3)  # 44 ops: above the 40 that fold by default
    path = debug.replay(loss, tmp_path / "pixelcnn.html", model=model)
    with chromium_page() as (page, errors):
        page.goto(path.as_uri())
        groups = page.locator('[data-node^="g:"]')
        assert {groups.nth(i).get_attribute("data-node") for i in range(groups.count())} == {
            "g:PixelCNN.input", "g:PixelCNN.blocks", "g:PixelCNN.head"}
        folded_nodes = page.locator(".node").count()
        page.click('[data-node="g:PixelCNN.blocks"]')
        assert page.locator('[data-node="g:PixelCNN.blocks.0"]').count() == 1
        assert page.locator('[data-node="g:PixelCNN.blocks"]').count() == 0
        assert page.locator(".node").count() > folded_nodes
        page.click("#unfold")
        assert page.locator('[data-node^="g:"]').count() == 0
        page.keyboard.press("End")  # the last backward step draws heat maps and histograms
        assert page.locator("canvas.heat").count() > 0
        assert errors == []


def measure_and_draw(figures: Path = ROOT / "docs" / "figures") -> dict:
    """The figures for docs/BENCHMARKS.md and the screenshots for docs/figures."""
    figures.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp())
    model, loss = walkthrough_mlp()
    mlp_page = debug.replay(loss, work / "mlp.html", model=model)
    model, loss = small_pixelcnn(channels=64, blocks=5, batch=4, side=28)  # the model's size
    start = time.perf_counter()
    cnn_page = debug.replay(loss, work / "pixelcnn.html", model=model)
    write_seconds = time.perf_counter() - start
    results = {"pixelcnn_ops": len(topological_order(loss)),
               "pixelcnn_bytes": cnn_page.stat().st_size, "write_s": write_seconds,
               "mlp_bytes": mlp_page.stat().st_size}
    with chromium_page() as (page, errors):
        page.goto(mlp_page.as_uri())
        page.evaluate("tinygenReplay.go(tinygenReplay.forwardCount + 4)")  # the Tanh
        page.screenshot(path=str(figures / "replay_mlp.png"))
        paints = []
        for _ in range(5):  # the median of five loads: the machine is shared
            page.goto(cnn_page.as_uri())
            page.wait_for_function("performance.getEntriesByType('paint').length > 1")
            paints.append(page.evaluate("Object.fromEntries(performance.getEntriesByType("
                                        "'paint').map(e => [e.name, e.startTime]))"))
        for name in ("first-paint", "first-contentful-paint"):
            results[name + " ms (median of 5)"] = float(np.median([p[name] for p in paints]))
        total = page.evaluate("tinygenReplay.total")
        start = time.perf_counter()
        for _ in range(total - 1):
            page.keyboard.press("ArrowRight")
        page.evaluate("new Promise(r => requestAnimationFrame(() => r()))")
        results["ms_per_step"] = 1000 * (time.perf_counter() - start) / (total - 1)
        results["steps"] = total
        page.click('[data-node="g:PixelCNN.blocks"]')
        page.evaluate("tinygenReplay.go(tinygenReplay.forwardCount + 6)")
        page.screenshot(path=str(figures / "replay_pixelcnn.png"))
        results["console_errors"] = errors
    return results


if __name__ == "__main__":
    for key, value in measure_and_draw().items():
        print(f"{key}: {value}")
