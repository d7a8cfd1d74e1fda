"""Opening the journal file: permissions, pragmas, integrity check, moving a corrupt
file aside and salvaging what can still be read from it."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.errors import JournalError
from device.files import fsync_dir

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
SIDE_FILES = ("-wal", "-shm", "-journal")

#: Columns copied when records are salvaged from a corrupt journal.
RECORD_COLUMNS = (
    "record_id", "terminal_id", "seq", "t_wall", "clock_quality", "source", "profile",
    "decision", "reason", "code_id", "subject_ref", "kid", "latency_ms",
)


class CorruptJournal(Exception):
    """Internal: the file is not a database or fails its check (never leaves the package)."""


CORRUPTION_CODES = (11, 26)  # SQLITE_CORRUPT, SQLITE_NOTADB


def _raise_for(path: Path, exc: sqlite3.Error) -> None:
    """Corruption becomes ``CorruptJournal`` (move aside); anything else (permissions,
    locked by another process, I/O) a ``JournalError``: the file is left alone."""
    code = int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF
    if code in CORRUPTION_CODES:
        raise CorruptJournal(f"{type(exc).__name__}: {exc}") from exc
    raise JournalError(
        f"cannot open the journal {path}: {exc}; check its owner and permissions, "
        "that the disk is healthy and that no other scangate process is running"
    ) from exc


def prepare_path(path: Path) -> None:
    """Create the directory (0700) and the file (0600) if missing; only the service user
    may read decisions. Existing looser modes are tightened on the file, reported on the dir."""
    parent = path.parent
    if not parent.exists():
        parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(parent, 0o700)  # mkdir's mode is filtered by the umask
    elif stat.S_IMODE(parent.stat().st_mode) & 0o077:
        log.warning("journal directory %s is readable by other users; expected mode 0700", parent)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    if stat.S_IMODE(path.stat().st_mode) != 0o600:
        os.chmod(path, 0o600)


def connect(path: Path) -> sqlite3.Connection:
    """Open ``path`` with the journal's durability settings and check it.

    Raises ``CorruptJournal`` when the file is not a database or fails ``quick_check``.
    The check runs on a read-only connection first, so a corrupt file and its -wal are
    left exactly as found (a read-write connection would checkpoint or delete the WAL).
    """
    check(path)
    conn = sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_MS / 1000, check_same_thread=False)
    try:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        # Must precede the first table of a new file; a no-op on an existing one.
        conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
        # journal_mode cannot change inside a transaction: none is open on a new connection
        # (statements below run in the driver's autocommit for non-DML statements).
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            raise CorruptJournal(f"cannot switch to WAL (journal_mode={mode})")
        conn.execute("PRAGMA synchronous = FULL")
        conn.execute("PRAGMA journal_size_limit = 4194304")  # WAL shrinks back to 4 MiB
        return conn
    except sqlite3.Error as exc:
        conn.close()
        _raise_for(path, exc)
        raise  # unreachable: _raise_for always raises
    except CorruptJournal:
        conn.close()
        raise


def check(path: Path) -> None:
    """``PRAGMA quick_check`` on a read-only connection; raise ``CorruptJournal``."""
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    except sqlite3.Error as exc:
        _raise_for(path, exc)
        raise  # unreachable
    try:
        found = [r[0] for r in conn.execute("PRAGMA quick_check").fetchall()]
    except sqlite3.Error as exc:
        _raise_for(path, exc)
    finally:
        conn.close()
    if found != ["ok"]:
        raise CorruptJournal("quick_check: " + "; ".join(str(r) for r in found[:3]))


def move_aside(path: Path, wall_t: float) -> Path:
    """Rename ``path`` and its -wal/-shm to ``<name>.corrupt-<UTC stamp>`` (+ the same
    suffixes, so SQLite opens the copy with its WAL). Returns the new main path."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_t))
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
    for suffix in ("", *SIDE_FILES):
        src = Path(str(path) + suffix)
        if src.exists():
            os.replace(src, Path(str(target) + suffix))
    fsync_dir(path.parent)
    return target


@dataclass
class Salvage:
    """What could be read from a corrupt journal (best effort, row by row)."""

    pending: list[dict[str, Any]] = field(default_factory=list)
    last_seq: dict[str, int] = field(default_factory=dict)
    error: str | None = None


def salvage(path: Path, *, limit: int = 5_000_000) -> Salvage:
    """Read not-yet-uploaded records and the last seq per terminal from a corrupt file.

    Reading stops at the first error; whatever was read before is kept. Never raises.
    """
    out = Salvage()
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        out.error = str(exc)
        return out
    try:
        try:
            for tid, seq in conn.execute("SELECT terminal_id, last_seq FROM sequences"):
                out.last_seq[str(tid)] = max(int(seq), out.last_seq.get(str(tid), 0))
        except sqlite3.Error as exc:
            out.error = f"sequences: {exc}"
        try:
            cols = ", ".join(RECORD_COLUMNS)
            cur = conn.execute(
                f"SELECT {cols}, uploaded FROM records ORDER BY id LIMIT ?", (limit,)
            )
            for row in cur:
                rec = dict(zip(RECORD_COLUMNS, row, strict=False))
                tid, seq = str(rec["terminal_id"]), int(rec["seq"])
                out.last_seq[tid] = max(seq, out.last_seq.get(tid, 0))
                if not row[-1]:
                    out.pending.append(rec)
        except sqlite3.Error as exc:
            out.error = f"records: {exc}"
    finally:
        conn.close()
    return out


@contextlib.contextmanager
def transaction(conn: sqlite3.Connection) -> Iterator[None]:
    """``BEGIN IMMEDIATE`` … ``COMMIT`` (the write lock up front: no upgrade deadlock with
    another process); rolled back on any error. ``COMMIT`` returns once durable."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    try:
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
