"""Where the benchmarks write their figures: one "## Heading" section each of
docs/BENCHMARKS.md, replaced in place so that every script keeps the others' sections."""

from __future__ import annotations

import os
import platform
import re
import subprocess
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "BENCHMARKS.md"


def replace_section(section: str, path: Path = DOC) -> None:
    """Put ``section`` (Markdown starting with "## Heading") in place of the document's
    section of the same heading, or append it when the document has none."""
    heading = section.splitlines()[0]
    text = path.read_text() if path.exists() else "# Benchmarks\n\n"
    pattern = re.compile(rf"^{re.escape(heading)}\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n")


def publish(section: str, write: bool = True) -> None:
    """Print ``section`` and, unless ``write`` is false (a partial or --no-write run), put it
    in docs/BENCHMARKS.md."""
    print(section)
    if write:
        replace_section(section)
        print(f"updated {DOC.relative_to(DOC.parents[1])}")


def machine() -> str:
    """The CPU model and core count, for the "Machine:" line of each section."""
    model = platform.processor() or platform.machine()
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        found = re.search(r"^Model name:\s*(.+)$", lscpu, re.MULTILINE)
        model = found.group(1).strip() if found else model
    except (OSError, subprocess.CalledProcessError):
        pass  # lscpu is Linux-only; the platform string is the best we have elsewhere
    return f"{model}, {os.cpu_count()} cores"
