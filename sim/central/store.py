"""The stand-in centre's database: a real SQLite file (WAL, synchronous=NORMAL).

Records are de-duplicated by ``record_id`` (primary key); ``times_received`` counts how
often a record arrived in a request that was actually processed (an idempotent replay
does not count), so tests can prove "zero duplicated". Idempotency keys are scoped per
terminal and stored with a SHA-256 of the decompressed body and the final response, in
the same transaction as the records.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    record_id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    seq INTEGER,
    t_wall REAL,
    clock_quality TEXT,
    source TEXT,
    profile TEXT,
    decision TEXT,
    reason TEXT,
    code_id TEXT,
    subject_ref TEXT,
    kid TEXT,
    latency_ms REAL,
    batch_key TEXT NOT NULL,
    received_at REAL NOT NULL,
    times_received INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS idempotency (
    terminal_id TEXT NOT NULL,
    key TEXT NOT NULL,
    body_sha256 TEXT NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('in_flight', 'done')),
    status INTEGER,
    response TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (terminal_id, key)
);
CREATE TABLE IF NOT EXISTS heartbeats (
    id INTEGER PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    received_at REAL NOT NULL,
    body TEXT NOT NULL
);
"""

COLUMNS = (
    "record_id", "terminal_id", "seq", "t_wall", "clock_quality", "source", "profile",
    "decision", "reason", "code_id", "subject_ref", "kid", "latency_ms",
)


@dataclass(frozen=True)
class Claim:
    """Result of claiming an idempotency key."""

    state: str  # "new", "replay", "in_flight", "mismatch"
    status: int | None = None
    response: str | None = None


@dataclass(frozen=True)
class StoreResult:
    stored: int
    duplicates: int


class CentralStore:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        # Nothing can be in flight across a restart: release such keys so retries proceed.
        self._db.execute("DELETE FROM idempotency WHERE state = 'in_flight'")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def claim(self, terminal_id: str, key: str, body_sha256: str) -> Claim:
        with self._lock:
            row = self._db.execute(
                "SELECT body_sha256, state, status, response FROM idempotency "
                "WHERE terminal_id = ? AND key = ?",
                (terminal_id, key),
            ).fetchone()
            if row is None:
                self._db.execute(
                    "INSERT INTO idempotency (terminal_id, key, body_sha256, state, created_at) "
                    "VALUES (?, ?, ?, 'in_flight', ?)",
                    (terminal_id, key, body_sha256, time.time()),
                )
                return Claim("new")
            if row[0] != body_sha256:
                return Claim("mismatch")
            if row[1] == "in_flight":
                return Claim("in_flight")
            return Claim("replay", row[2], row[3])

    def release(self, terminal_id: str, key: str) -> None:
        """Forget an in-flight key whose processing failed (a retry may then proceed)."""
        with self._lock:
            self._db.execute(
                "DELETE FROM idempotency WHERE terminal_id = ? AND key = ? AND state = 'in_flight'",
                (terminal_id, key),
            )

    def store_batch(
        self,
        terminal_id: str,
        key: str,
        records: Sequence[dict[str, Any]],
        make_response: Any,
    ) -> tuple[StoreResult, str]:
        """Store records and complete the key in ONE transaction. Returns (result, body)."""
        now = time.time()
        rows = [
            (*tuple(r.get(c) if c != "terminal_id" else terminal_id for c in COLUMNS), key, now)
            for r in records
        ]
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                before = self._db.total_changes
                self._db.executemany(
                    f"INSERT OR IGNORE INTO records ({', '.join(COLUMNS)}, batch_key, "
                    f"received_at) VALUES ({', '.join('?' * (len(COLUMNS) + 2))})",
                    rows,
                )
                inserted = self._db.total_changes - before
                dup = len(rows) - inserted
                if dup:
                    # Already stored (by another batch): count that it arrived again.
                    ids = [r[0] for r in rows]
                    for i in range(0, len(ids), 900):
                        chunk = ids[i : i + 900]
                        self._db.execute(
                            "UPDATE records SET times_received = times_received + 1 "
                            f"WHERE record_id IN ({', '.join('?' * len(chunk))}) "
                            "AND (batch_key != ? OR received_at != ?)",
                            (*chunk, key, now),
                        )
                result = StoreResult(stored=len(rows) - dup, duplicates=dup)
                body = make_response(result)
                self._db.execute(
                    "UPDATE idempotency SET state = 'done', status = 200, response = ? "
                    "WHERE terminal_id = ? AND key = ?",
                    (body, terminal_id, key),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return result, body

    def add_heartbeat(self, terminal_id: str, body: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO heartbeats (terminal_id, received_at, body) VALUES (?, ?, ?)",
                (terminal_id, time.time(), json.dumps(body, sort_keys=True)),
            )

    # --- read side for tests, metrics and the fleet simulation ---------------------------
    def keys_in_flight(self) -> int:
        with self._lock:
            return int(self._db.execute(
                "SELECT COUNT(*) FROM idempotency WHERE state = 'in_flight'").fetchone()[0])

    def key_state(self, terminal_id: str, key: str) -> str | None:
        """'in_flight', 'done' or None for an idempotency key."""
        with self._lock:
            row = self._db.execute(
                "SELECT state FROM idempotency WHERE terminal_id = ? AND key = ?",
                (terminal_id, key),
            ).fetchone()
            return str(row[0]) if row else None

    def record_count(self, terminal_id: str | None = None) -> int:
        with self._lock:
            if terminal_id is None:
                return int(self._db.execute("SELECT COUNT(*) FROM records").fetchone()[0])
            return int(
                self._db.execute(
                    "SELECT COUNT(*) FROM records WHERE terminal_id = ?", (terminal_id,)
                ).fetchone()[0]
            )

    def record_ids(self, terminal_id: str | None = None) -> list[str]:
        sql = "SELECT record_id FROM records"
        args: tuple[str, ...] = ()
        if terminal_id is not None:
            sql += " WHERE terminal_id = ?"
            args = (terminal_id,)
        with self._lock:
            return [r[0] for r in self._db.execute(sql + " ORDER BY received_at, seq", args)]

    def seqs_in_arrival_order(self, terminal_id: str) -> list[int]:
        with self._lock:
            return [
                int(r[0])
                for r in self._db.execute(
                    "SELECT seq FROM records WHERE terminal_id = ? ORDER BY rowid", (terminal_id,)
                )
            ]

    def max_times_received(self) -> int:
        with self._lock:
            value = self._db.execute("SELECT MAX(times_received) FROM records").fetchone()[0]
            return int(value or 0)

    def records_page(self, *, after: int = 0, limit: int = 1000,
                     terminal_id: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """``read_records`` on the server's own connection."""
        with self._lock:
            return read_records(self._db, after=after, limit=limit, terminal_id=terminal_id)

    def heartbeats_page(self, *, after: int = 0, limit: int = 1000,
                        terminal_id: str | None = None) -> tuple[list[dict[str, Any]], int]:
        with self._lock:
            return read_heartbeats(self._db, after=after, limit=limit,
                                   terminal_id=terminal_id)

    def heartbeats(self, terminal_id: str | None = None) -> list[dict[str, Any]]:
        sql = "SELECT terminal_id, received_at, body FROM heartbeats"
        args: tuple[str, ...] = ()
        if terminal_id is not None:
            sql += " WHERE terminal_id = ?"
            args = (terminal_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return [{"terminal_id": t, "received_at": at, "body": json.loads(b)} for t, at, b in rows]


# --- the read API (GET /admin/records, `scangate sim central export`) ---------------------

#: Fields of a record as the read API returns it: what the terminal sent, and when and how
#: often the stand-in received it (``times_received``: processed arrivals, see above).
READ_FIELDS = (*COLUMNS, "received_at", "times_received")
MAX_PAGE = 10_000


def _page(conn: sqlite3.Connection, table: str, key: str, columns: str, after: int,
          limit: int, terminal_id: str | None) -> list[tuple[Any, ...]]:
    """Rows of ``table`` with ``key`` > ``after`` in key order, at most ``limit`` (capped
    at ``MAX_PAGE``), of one terminal if given; the key is each row's first column."""
    sql = f"SELECT {key}, {columns} FROM {table} WHERE {key} > ?"
    args: list[Any] = [after]
    if terminal_id is not None:
        sql += " AND terminal_id = ?"
        args.append(terminal_id)
    return conn.execute(f"{sql} ORDER BY {key} LIMIT ?",
                        (*args, max(1, min(limit, MAX_PAGE)))).fetchall()


def read_records(conn: sqlite3.Connection, *, after: int = 0, limit: int = 1000,
                 terminal_id: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """Records in arrival order after the cursor ``after`` (0: from the start), at most
    ``limit``; returns them and the cursor to pass next (the last one's, or ``after``)."""
    rows = _page(conn, "records", "rowid", ", ".join(READ_FIELDS), after, limit, terminal_id)
    out = [dict(zip(READ_FIELDS, row[1:], strict=True)) for row in rows]
    return out, (int(rows[-1][0]) if rows else after)


def read_heartbeats(conn: sqlite3.Connection, *, after: int = 0, limit: int = 1000,
                    terminal_id: str | None = None) -> tuple[list[dict[str, Any]], int]:
    """Heartbeats in arrival order after the cursor ``after``; like ``read_records``."""
    rows = _page(conn, "heartbeats", "id", "terminal_id, received_at, body", after, limit,
                 terminal_id)
    out = [{"terminal_id": t, "received_at": at, "body": json.loads(b)}
           for _i, t, at, b in rows]
    return out, (int(rows[-1][0]) if rows else after)


def open_read_only(path: Path) -> sqlite3.Connection:
    """The stand-in's database for reading while it may be running (WAL readers do not
    block it); never creates or changes the file."""
    if not Path(path).exists():
        from sim.errors import SimError

        raise SimError(f"{path}: no such stand-in database (the --db of `sim central`)")
    return sqlite3.connect(f"file:{Path(path).resolve()}?mode=ro", uri=True)
