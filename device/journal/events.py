"""Reportable journal events (corruption moved aside, records lost, batches set aside).

Events are rows of the ``events`` table until the uplink reports them to the centre and
calls ``Journal.mark_events_reported``. Repeated events of one kind (every lost record of
a quota episode) are grouped in one row by ``key``: its ``count`` grows until the row is
handed out by ``events()``; the next occurrence opens a new row. Details never carry personal data.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from typing import Any

CORRUPT = "journal_corrupt"
LOST = "records_lost"
SET_ASIDE = "batch_set_aside"


def add(
    conn: sqlite3.Connection, kind: str, t: float, detail: dict[str, Any], *,
    key: str | None = None, count: int = 1, group: bool = False,
) -> int:
    """Insert an event, or with ``group`` add ``count`` to the unreported one of ``key``.
    Runs in the caller's transaction. Returns the event id."""
    key = key or kind
    if group:
        row = conn.execute(
            "SELECT event_id FROM events WHERE key = ? AND reported_t IS NULL "
            "AND exported_t IS NULL ORDER BY event_id DESC LIMIT 1",
            (key,),
        ).fetchone()
        if row is not None:
            conn.execute(
                "UPDATE events SET count = count + ?, t_last = ?, detail = ? WHERE event_id = ?",
                (count, t, json.dumps(detail, sort_keys=True), row[0]),
            )
            return int(row[0])
    cur = conn.execute(
        "INSERT INTO events (kind, key, t, t_last, count, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (kind, key, t, t, count, json.dumps(detail, sort_keys=True)),
    )
    return int(cur.lastrowid or 0)


def export(conn: sqlite3.Connection, t: float) -> list[dict[str, Any]]:
    """The unreported events, sealed: from now on a grouped event no longer grows (a new
    occurrence opens a new row), so what the centre is sent is exactly what is marked
    reported. Runs in the caller's transaction."""
    conn.execute(
        "UPDATE events SET exported_t = ? WHERE reported_t IS NULL AND exported_t IS NULL", (t,)
    )
    out = []
    for event_id, kind, t, t_last, count, detail in conn.execute(
        "SELECT event_id, kind, t, t_last, count, detail FROM events "
        "WHERE reported_t IS NULL ORDER BY event_id"
    ):
        try:
            parsed = json.loads(detail)
        except ValueError:
            parsed = {}
        out.append(
            {"event_id": event_id, "kind": kind, "t": t, "t_last": t_last,
             "count": count, "detail": parsed}
        )
    return out


def mark_reported(conn: sqlite3.Connection, ids: Iterable[int], t: float) -> int:
    n = 0
    for event_id in ids:
        cur = conn.execute(
            "UPDATE events SET reported_t = ? WHERE event_id = ? AND reported_t IS NULL",
            (t, int(event_id)),
        )
        n += cur.rowcount
    return n
