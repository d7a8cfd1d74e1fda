"""The journal's schema, as ordered migrations recorded in the database.

Migrations are sqlite-utils ``Migrations``: functions applied in order (``STEPS``), each
in one transaction together with its row in ``_sqlite_migrations`` (set ``scangate-journal``),
so re-running is a no-op and a half-applied migration never exists. Add a new function
at the end of ``STEPS``; never edit or reorder an applied one.

sqlite-utils is imported (through ``sqlitelib``, without numpy) only when a migration is
pending (a new or older journal): the usual start finds every step applied with one
plain query, and importing sqlite-utils (click, pluggy, dateutil, and numpy where
installed) would add ~0.1-0.2 s to the time the terminal is blind after a start
(bench/startup.py).
"""

from __future__ import annotations

import functools
import sqlite3
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from device.journal.sqlitelib import Database, Migrations

MIGRATION_SET = "scangate-journal"
MIGRATIONS_TABLE = "_sqlite_migrations"  # sqlite-utils' table (Migrations.migrations_table)


def m001_records(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE records (
            id INTEGER PRIMARY KEY,              -- insertion order (oldest first)
            record_id TEXT NOT NULL UNIQUE,      -- uuid4, the centre de-duplicates on it
            terminal_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            t_wall REAL NOT NULL,
            clock_quality TEXT NOT NULL,
            source TEXT NOT NULL,
            profile TEXT,
            decision TEXT NOT NULL,
            reason TEXT NOT NULL,
            code_id TEXT,
            subject_ref TEXT,                    -- pseudonymous hash, never a name
            kid TEXT,                            -- hex
            latency_ms REAL NOT NULL,
            batch_id INTEGER,                    -- the open/acked batch it belongs to
            uploaded INTEGER NOT NULL DEFAULT 0 CHECK (uploaded IN (0, 1)),
            uploaded_t REAL,
            set_aside INTEGER NOT NULL DEFAULT 0 CHECK (set_aside IN (0, 1)),
            UNIQUE (terminal_id, seq)
        )
        """
    )
    db.execute(
        "CREATE INDEX records_unbatched ON records(id) "
        "WHERE uploaded = 0 AND set_aside = 0 AND batch_id IS NULL"
    )
    db.execute("CREATE INDEX records_pending ON records(id) WHERE uploaded = 0 AND set_aside = 0")
    db.execute("CREATE INDEX records_batch ON records(batch_id) WHERE batch_id IS NOT NULL")
    db.execute("CREATE INDEX records_uploaded ON records(uploaded_t, id) WHERE uploaded = 1")
    # Last seq (and newest t_wall) per terminal: survives purging every record.
    db["sequences"].create(  # type: ignore[union-attr]
        {"terminal_id": str, "last_seq": int, "last_t": float},
        pk="terminal_id",
        not_null={"last_seq"},
    )


def m002_batches(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE batches (
            batch_id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused
            idempotency_key TEXT NOT NULL UNIQUE,        -- uuid4, stored before the first send
            created_t REAL NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_attempt_t REAL,
            state TEXT NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'acked', 'set_aside')),
            reason TEXT,
            closed_t REAL
        )
        """
    )
    db.execute("CREATE INDEX batches_open ON batches(batch_id) WHERE state = 'open'")


def m003_events(db: Database) -> None:
    db.execute(
        """
        CREATE TABLE events (
            event_id INTEGER PRIMARY KEY AUTOINCREMENT,
            kind TEXT NOT NULL,          -- journal_corrupt | records_lost | batch_set_aside
            key TEXT NOT NULL,           -- groups repeated events (e.g. records_lost:quota)
            t REAL NOT NULL,             -- first occurrence
            t_last REAL NOT NULL,
            count INTEGER NOT NULL DEFAULT 1,
            detail TEXT NOT NULL DEFAULT '{}',   -- JSON, never personal data
            reported_t REAL
        )
        """
    )
    db.execute("CREATE INDEX events_unreported ON events(key) WHERE reported_t IS NULL")
    db["meta"].create({"key": str, "value": str}, pk="key")  # type: ignore[union-attr]


def m004_events_exported(db: Database) -> None:
    # Set when events() hands an event out: later occurrences open a new row instead of
    # growing a count the centre may already have been sent.
    db["events"].add_column("exported_t", float)  # type: ignore[union-attr]


def m005_accepted_by_time(db: Database) -> None:
    # The anti-passback window rebuilt at start: recent ACCEPTED records with a code id,
    # by decision time (Journal.recent_accepts); a partial index, so only accepted
    # decisions with a code id pay for it.
    db.execute(
        "CREATE INDEX records_accepted_t ON records(t_wall) "
        "WHERE decision = 'accept' AND code_id IS NOT NULL"
    )


#: The migrations in the order they apply. Append only.
STEPS = (m001_records, m002_batches, m003_events, m004_events_exported, m005_accepted_by_time)
NAMES = tuple(step.__name__ for step in STEPS)


@functools.cache
def migrations() -> Migrations:
    from device.journal.sqlitelib import Migrations

    m = Migrations(MIGRATION_SET)
    for step in STEPS:
        m()(step)
    return m


def apply(conn: sqlite3.Connection) -> list[str]:
    """Apply pending migrations; return the names applied now (sqlite-utils is imported
    only if there are any)."""
    done = set(applied(conn))
    if all(name in done for name in NAMES):
        return []
    from device.journal.sqlitelib import Database

    db = Database(conn, execute_plugins=False)
    pending = [m.name for m in migrations().pending(db)]
    if pending:
        migrations().apply(db)
    return pending


def applied(conn: sqlite3.Connection) -> list[str]:
    """Names of the migrations of our set recorded in the database, in the order applied."""
    try:
        rows = conn.execute(
            f"SELECT name FROM {MIGRATIONS_TABLE} WHERE migration_set = ? ORDER BY rowid",
            (MIGRATION_SET,),
        ).fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return []
        raise
    return [str(r[0]) for r in rows]
