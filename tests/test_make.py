"""The README's `make run`: the staff screen's port is a make variable (8080 by default)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _dry_run(*args: str) -> str:
    out = subprocess.run(["make", "-n", "run", *args], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.skipif(shutil.which("make") is None, reason="no make here")
def test_make_run_takes_the_port() -> None:
    assert ".venv/bin/scangate sim run --port 8123" in _dry_run("PORT=8123")
    assert ".venv/bin/scangate sim run --port 8080" in _dry_run()
