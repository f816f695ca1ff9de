"""The README's API tour runs as written, so the first code a reader copies works."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_api_tour_runs(capsys):
    blocks = re.findall(r"^```python\n(.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert blocks, "README.md has no ```python block"
    for block in blocks:
        exec(compile(block, str(README), "exec"), {"__name__": "readme_tour"})
    assert "numpy" in capsys.readouterr().out  # the tour ends by printing tinygen.info()
