"""Keeping the journal inside its disk budget: live size, purging, shrinking the file.

Functions run on the journal's connection under its lock. Pending records are never
purged; uploaded ones after the retention time (or under quota pressure); set-aside ones
(refused by the centre) once they have been kept for the technician long enough and the
centre has been told about their batch (``purge_set_aside``).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from device.journal.sqlite_file import transaction

log = logging.getLogger(__name__)

PURGE_CHUNK = 5000  # rows per transaction in the retention purge
SPACE_CHUNK = 32  # rows per step when making room for the quota (frees just enough)


def live_bytes(conn: sqlite3.Connection, page_size: int) -> int:
    """Bytes of pages in use (free pages are reused before the file grows)."""
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    free = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    return (pages - free) * page_size


def purge_uploaded(
    conn: sqlite3.Connection, *, cutoff: float | None, until_live: int, page_size: int,
    chunk: int = PURGE_CHUNK,
) -> int:
    """Delete uploaded records, earliest uploaded first, ``chunk`` per transaction; stop
    when none is left (uploaded before ``cutoff`` if given) or, with ``until_live``,
    once the live size is down to it. Returns the records deleted."""
    where = "uploaded = 1" + (" AND uploaded_t < ?" if cutoff is not None else "")
    args: tuple[Any, ...] = (cutoff,) if cutoff is not None else ()
    total = 0
    while True:
        with transaction(conn):
            n = conn.execute(
                f"DELETE FROM records WHERE id IN (SELECT id FROM records WHERE {where} "
                f"ORDER BY uploaded_t, id LIMIT {int(chunk)})", args,
            ).rowcount
        total += n
        if n < chunk or (until_live and live_bytes(conn, page_size) <= until_live):
            break
    if total:
        log.info("journal: purged %d uploaded records", total)
    return total


def purge_set_aside(conn: sqlite3.Connection, cutoff: float) -> int:
    """Delete the records of batches set aside before ``cutoff`` whose ``batch_set_aside``
    event the centre has acknowledged (no unreported event names the batch). Returns the
    records deleted."""
    with transaction(conn):
        n = conn.execute(
            "DELETE FROM records WHERE set_aside = 1 AND batch_id IN ("
            " SELECT batch_id FROM batches b WHERE state = 'set_aside' AND closed_t < ?"
            " AND NOT EXISTS (SELECT 1 FROM events WHERE kind = 'batch_set_aside'"
            "  AND reported_t IS NULL"
            "  AND json_extract(detail, '$.batch_id') = b.batch_id))", (cutoff,),
        ).rowcount
    if n:
        log.warning("journal: purged %d set-aside records (set aside before the cutoff, "
                    "reported to the centre)", n)
    return n


def purge_closed(conn: sqlite3.Connection, cutoff: float) -> None:
    """Delete closed batches without records and events reported before ``cutoff``."""
    with transaction(conn):
        conn.execute(
            "DELETE FROM batches WHERE state != 'open' AND closed_t < ? AND NOT EXISTS "
            "(SELECT 1 FROM records WHERE records.batch_id = batches.batch_id)", (cutoff,),
        )
        conn.execute(
            "DELETE FROM events WHERE reported_t IS NOT NULL AND reported_t < ?", (cutoff,)
        )


def shrink(conn: sqlite3.Connection) -> None:
    """Give freed pages back to the filesystem (incremental vacuum, WAL truncate)."""
    try:
        with transaction(conn):
            conn.execute("PRAGMA incremental_vacuum")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
    except sqlite3.Error as exc:
        log.warning("journal: could not shrink the file (%s)", exc)
