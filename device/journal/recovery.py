"""Replacing a corrupt journal: move it aside, start fresh, carry over what can be read."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

from device.errors import JournalError
from device.journal import events as ev
from device.journal import schema
from device.journal.seqfloor import SeqReservation
from device.journal.sqlite_file import (
    RECORD_COLUMNS,
    CorruptJournal,
    connect,
    move_aside,
    prepare_path,
    salvage,
    transaction,
)

log = logging.getLogger(__name__)

_INSERT_IGNORE = (
    f"INSERT OR IGNORE INTO records ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RECORD_COLUMNS))})"
)


def start_fresh(
    path: Path, *, problem: str, now: float, terminal_id: str, seqres: SeqReservation
) -> tuple[sqlite3.Connection, dict[str, Any]]:
    """Move ``path`` (and its -wal/-shm) aside, open a fresh journal with the pending
    records still readable from the old one, seq resuming above every seq ever used,
    and a ``journal_corrupt`` event. Returns the database and the event detail."""
    moved = move_aside(path, now)
    log.error("journal %s is corrupt (%s); moved aside to %s, starting a fresh journal",
              path, problem, moved.name)
    found = salvage(moved)
    try:
        prepare_path(path)
        conn = connect(path)
        schema.apply(conn)
    except (CorruptJournal, sqlite3.Error, OSError) as exc:
        raise JournalError(
            f"cannot start a fresh journal at {path} ({exc}); check the disk"
        ) from exc
    resumed = {
        tid: max(found.last_seq.get(tid, 0), seqres.reserved(tid))
        for tid in sorted(set(found.last_seq) | {terminal_id})
    }
    carried = 0
    detail: dict[str, Any] = {}
    with transaction(conn):
        for tid, seq in resumed.items():
            conn.execute("INSERT INTO sequences (terminal_id, last_seq) VALUES (?, ?)",
                         (tid, seq))
        for rec in found.pending:
            try:
                carried += conn.execute(
                    _INSERT_IGNORE, tuple(rec[c] for c in RECORD_COLUMNS)
                ).rowcount
            except sqlite3.Error:
                continue  # a garbled row stays in the forensic copy only
        detail = {
            "moved_to": moved.name,
            "problem": problem[:200],
            "pending_carried_over": carried,
            "salvage_error": (found.error or "")[:200] or None,
            "seq_resumed_at": resumed[terminal_id],
        }
        ev.add(conn, ev.CORRUPT, now, detail)
    log.warning("fresh journal started: %d pending records carried over, seq resumes after %d",
                carried, resumed[terminal_id])
    return conn, detail
