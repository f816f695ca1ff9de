"""Test configuration: Hypothesis profiles, and the gpu/slow/browser markers."""

import importlib.util
import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

from tinygen import backend

_COMMON = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
settings.register_profile("dev", max_examples=25, **_COMMON)
# CI is reproducible: the same examples on every run.
settings.register_profile("ci", max_examples=15, derandomize=True, **_COMMON)
settings.register_profile("thorough", max_examples=300, **_COMMON)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


BROWSER_HINT = ("no browser: the browser tests need Chromium and Playwright "
                "(apt-get install chromium graphviz; pip install -e .[browser])")


def chromium_path():
    """The system Chromium (TINYGEN_CHROMIUM, else `chromium` on the PATH), or None."""
    return os.environ.get("TINYGEN_CHROMIUM") or shutil.which("chromium")


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    run_slow = config.getoption("--runslow") or os.environ.get("RUN_SLOW") == "1"
    gpu = backend.gpu_available()
    browser = bool(chromium_path()) and importlib.util.find_spec("playwright") is not None
    for item in items:
        if "slow" in item.keywords and not run_slow:
            item.add_marker(pytest.mark.skip(reason="slow: use --runslow or RUN_SLOW=1"))
        if "gpu" in item.keywords and not gpu:
            reason = backend.info()["fallback_reason"]
            item.add_marker(pytest.mark.skip(reason=f"no usable GPU: {reason}"))
        if "browser" in item.keywords and not browser:
            item.add_marker(pytest.mark.skip(reason=BROWSER_HINT))
