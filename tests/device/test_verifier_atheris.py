"""Runs the atheris harness for a bounded number of runs, if atheris is installed."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

HARNESS = Path(__file__).with_name("fuzz_verifier.py")


@pytest.mark.skipif(importlib.util.find_spec("atheris") is None,
                    reason="atheris is not installed (pip install -e '.[fuzz]' to enable)")
def test_atheris_harness_bounded_run(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, str(HARNESS), "-runs=20000", "-seed=1",
                        f"-artifact_prefix={tmp_path}/"],
                       capture_output=True, text=True, timeout=240, check=False)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 20000 runs" in r.stderr
