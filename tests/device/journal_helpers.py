"""Shared helpers for the journal tests (not a test module)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from device.journal import NewRecord


def new_record(i: int = 0, **kw: Any) -> NewRecord:
    fields: dict[str, Any] = {
        "t_wall": 1_800_000_000.0 + i,
        "clock_quality": "synced",
        "source": "sim-camera",
        "profile": "scangate",
        "decision": "accept",
        "reason": "ok",
        "code_id": f"{i:032x}",
        "subject_ref": f"ref{i:08d}",
        "kid": "0a1b2c3d",
        "latency_ms": 12.5,
    }
    fields.update(kw)
    return NewRecord(**fields)


def rows(path: Path, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read the journal file with a separate, plain sqlite3 connection."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()
