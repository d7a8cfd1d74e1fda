"""Reading a whole journal out, and the digest a retire receipt is made over.

    summary = summarise(journal_path, terminal_id)   # first/last seq, count, digest
    for rec in held_records(journal_path): ...       # every record still held, seq order

The digest (docs/central-api.md, "Retire") is the lowercase hex SHA-256 over one line
per record in seq order: ``"<seq>:<record_id>:<sha256 of canonical JSON>\\n"``, where the
canonical JSON holds the upload fields (``RECORD_FIELDS``) with sorted keys and no
whitespace. The centre computes the same over its own copies; equal digests mean it
holds every record, byte for byte.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from device.errors import JournalError

RECORD_FIELDS = ("record_id", "terminal_id", "seq", "t_wall", "clock_quality", "source",
                 "profile", "decision", "reason", "code_id", "subject_ref", "kid", "latency_ms")


def canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def record_line(rec: Mapping[str, Any]) -> bytes:
    body = {k: rec.get(k) for k in RECORD_FIELDS}
    h = hashlib.sha256(canonical(body)).hexdigest()
    return f"{int(rec['seq'])}:{rec['record_id']}:{h}\n".encode()


@dataclass(frozen=True)
class Digest:
    count: int
    first_seq: int | None
    last_held_seq: int | None
    digest: str


def digest_records(records: Iterable[Mapping[str, Any]]) -> Digest:
    """The digest of records given in seq order."""
    h = hashlib.sha256()
    n = 0
    first = last = None
    for rec in records:
        seq = int(rec["seq"])
        if last is not None and seq <= last:
            raise ValueError(f"records not in strictly increasing seq order at {seq}")
        if first is None:
            first = seq
        last = seq
        h.update(record_line(rec))
        n += 1
    return Digest(n, first, last, h.hexdigest())


def _open_ro(path: Path) -> sqlite3.Connection:
    if not path.exists():
        raise JournalError(f"journal {path} not found")
    try:
        # Not ``mode=ro``: a read-only connection to a WAL database leaves -wal/-shm files
        # behind; a normal one that only reads removes them when it closes.
        conn = sqlite3.connect(str(path))
        conn.execute("PRAGMA query_only = 1")
        return conn
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be opened: {exc}") from exc


def held_records(path: Path) -> Iterator[dict[str, Any]]:
    """Every record the journal holds (pending, uploaded, set aside), seq order."""
    conn = _open_ro(Path(path))
    try:
        cur = conn.execute(f"SELECT {', '.join(RECORD_FIELDS)} FROM records ORDER BY seq")
        for row in cur:
            yield dict(zip(RECORD_FIELDS, row, strict=True))
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be read: {exc}") from exc
    finally:
        conn.close()


@dataclass(frozen=True)
class JournalSummary:
    terminal_id: str
    last_seq: int
    pending: int
    digest: Digest


def summarise(path: Path, terminal_id: str) -> JournalSummary:
    """Last seq, pending count and the digest of every held record (read-only)."""
    conn = _open_ro(Path(path))
    try:
        row = conn.execute("SELECT last_seq FROM sequences WHERE terminal_id = ?",
                           (terminal_id,)).fetchone()
        pending = int(conn.execute(
            "SELECT count(*) FROM records WHERE uploaded = 0").fetchone()[0])
        top = conn.execute("SELECT max(seq) FROM records").fetchone()[0]
    except sqlite3.Error as exc:
        raise JournalError(f"journal {path} cannot be read: {exc}") from exc
    finally:
        conn.close()
    last = max(int(row[0]) if row else 0, int(top or 0))
    return JournalSummary(terminal_id, last, pending, digest_records(held_records(Path(path))))
