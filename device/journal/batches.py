"""Batches for the uplink: membership and idempotency key committed before the first send.

Functions run on the journal's connection under its lock; each is one transaction.
"""

from __future__ import annotations

import logging
import sqlite3
import uuid
from collections.abc import Iterable
from typing import Any, NamedTuple

from device.journal import events as ev
from device.journal.model import Batch, Record
from device.journal.sqlite_file import RECORD_COLUMNS, transaction

log = logging.getLogger(__name__)

SELECT_RECORDS = f"SELECT {', '.join(RECORD_COLUMNS)} FROM records"


def to_record(row: tuple[Any, ...]) -> Record:
    return Record(**dict(zip(RECORD_COLUMNS, row, strict=True)))


class RawBatch(NamedTuple):
    """A batch as read under the journal lock; ``to_batch()`` builds the records after."""

    batch_id: int
    idempotency_key: str
    rows: list[tuple[Any, ...]]
    attempts: int
    created_t: float

    def to_batch(self) -> Batch:
        return Batch(self.batch_id, self.idempotency_key,
                     tuple(to_record(r) for r in self.rows), self.attempts, self.created_t)


def batch_rows(conn: sqlite3.Connection, batch_id: int) -> list[tuple[Any, ...]]:
    return conn.execute(
        SELECT_RECORDS + " WHERE batch_id = ? AND uploaded = 0 ORDER BY id", (batch_id,)
    ).fetchall()


def next_batch(conn: sqlite3.Connection, max_records: int, now: float) -> RawBatch | None:
    """The oldest open batch again (same key, same records, ``max_records`` ignored), else
    a new batch of the oldest unbatched pending records with a fresh uuid4 key."""
    with transaction(conn):
        while True:
            row = conn.execute(
                "SELECT batch_id, idempotency_key, attempts, created_t FROM batches "
                "WHERE state = 'open' ORDER BY batch_id LIMIT 1"
            ).fetchone()
            if row is None:
                break
            recs = batch_rows(conn, row[0])
            if recs:
                conn.execute(
                    "UPDATE batches SET attempts = attempts + 1, last_attempt_t = ? "
                    "WHERE batch_id = ?", (now, row[0]),
                )
                return RawBatch(row[0], row[1], recs, row[2] + 1, row[3])
            conn.execute(  # nothing left to send in it (cannot normally happen)
                "UPDATE batches SET state = 'acked', closed_t = ? WHERE batch_id = ?",
                (now, row[0]),
            )
        ids = [r[0] for r in conn.execute(
            "SELECT id FROM records WHERE uploaded = 0 AND set_aside = 0 "
            "AND batch_id IS NULL ORDER BY id LIMIT ?", (max_records,),
        )]
        if not ids:
            return None
        key = str(uuid.uuid4())
        cur = conn.execute(
            "INSERT INTO batches (idempotency_key, created_t, attempts, last_attempt_t)"
            " VALUES (?, ?, 1, ?)", (key, now, now),
        )
        batch_id = int(cur.lastrowid or 0)
        # The ids are the first unbatched ones in order: the range holds exactly them.
        conn.execute(
            "UPDATE records SET batch_id = ? WHERE id BETWEEN ? AND ? "
            "AND uploaded = 0 AND set_aside = 0 AND batch_id IS NULL",
            (batch_id, ids[0], ids[-1]),
        )
        return RawBatch(batch_id, key, batch_rows(conn, batch_id), 1, now)


def _open_state(conn: sqlite3.Connection, batch_id: int, what: str) -> bool:
    row = conn.execute("SELECT state FROM batches WHERE batch_id = ?", (batch_id,)).fetchone()
    if row is None or row[0] != "open":
        log.warning("journal: %s of batch %s ignored (%s)", what, batch_id,
                    "unknown" if row is None else row[0])
        return False
    return True


def ack(
    conn: sqlite3.Connection, batch_id: int, accepted_ids: Iterable[str] | None, now: float
) -> int:
    """Mark the batch's records (or only ``accepted_ids``) uploaded, return the rest to
    the pool, close the batch. Returns the records marked; 0 if the batch was not open."""
    with transaction(conn):
        if not _open_state(conn, batch_id, "ack"):
            return 0
        if accepted_ids is None:
            n = conn.execute(
                "UPDATE records SET uploaded = 1, uploaded_t = ? "
                "WHERE batch_id = ? AND uploaded = 0", (now, batch_id),
            ).rowcount
        else:
            n = 0
            for rid in accepted_ids:
                n += conn.execute(
                    "UPDATE records SET uploaded = 1, uploaded_t = ? "
                    "WHERE record_id = ? AND batch_id = ? AND uploaded = 0",
                    (now, str(rid), batch_id),
                ).rowcount
            conn.execute(
                "UPDATE records SET batch_id = NULL WHERE batch_id = ? AND uploaded = 0",
                (batch_id,),
            )
        conn.execute(
            "UPDATE batches SET state = 'acked', closed_t = ? WHERE batch_id = ?",
            (now, batch_id),
        )
    return n


def set_aside(conn: sqlite3.Connection, batch_id: int, reason: str, now: float) -> int:
    """Keep the batch's records but never send them again; queue an event. Returns the
    records set aside; 0 if the batch was not open."""
    with transaction(conn):
        if not _open_state(conn, batch_id, "set-aside"):
            return 0
        n = conn.execute(
            "UPDATE records SET set_aside = 1 WHERE batch_id = ? AND uploaded = 0",
            (batch_id,),
        ).rowcount
        conn.execute(
            "UPDATE batches SET state = 'set_aside', reason = ?, closed_t = ? "
            "WHERE batch_id = ?", (reason[:500], now, batch_id),
        )
        ev.add(conn, ev.SET_ASIDE, now,
               {"batch_id": batch_id, "records": n, "reason": reason[:200]})
    log.warning("journal: batch %s set aside (%d records): %s", batch_id, n, reason)
    return n
