"""docs/security.md stays true: every test its threat table names exists, and every
threat the issue lists has a row."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
THREATS = ("Forged or tampered codes", "Screenshot replay", "Stolen terminal",
           "Leaked enrolment token", "Replayed enrolment voucher",
           "Rogue centre / man in the middle", "Rogue trust list", "Serial-line injection",
           "Revoked terminal")


def _tests_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {n.name for n in tree.body
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
            and n.name.startswith("test_")}


def test_every_named_test_exists() -> None:
    refs = re.findall(r"`(tests/[\w/]+\.py)(?:::(\w+))?`", DOC)
    assert len(refs) >= 30
    for file, name in refs:
        path = ROOT / file
        assert path.exists(), f"docs/security.md names {file}, which does not exist"
        if name:
            assert name in _tests_in(path), f"docs/security.md names {file}::{name}"


def test_every_threat_has_a_row() -> None:
    rows = [line for line in DOC.splitlines() if line.startswith("| **")]
    for threat in THREATS:
        assert any(f"**{threat}**" in row for row in rows), threat
        row = next(r for r in rows if f"**{threat}**" in r)
        assert row.count("`tests/") >= 1, f"{threat}: no test named"
