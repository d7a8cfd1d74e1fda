"""The scan journal: every decision, durably, before it counts (see docs/journal.md).

Durability: each ``record()`` is one transaction committed with WAL and
``synchronous=FULL`` (the WAL is fsynced on commit) before it returns. There is no group
commit: a gate decides a few codes per second and one fsync costs milliseconds, so every
decision is alone in its commit (window: zero). ``bench/journal.py`` measures it.

Thread safety: one lock around the one connection; the daemon may call ``record()`` from
a worker thread or the event loop, the uplink ``next_batch``/``ack_batch`` from another.

Time floor: the journal is the "newest record written" source. Given ``timefloor=``,
it raises the floor to the newest record's ``t_wall`` when it opens and to each stored
record's ``t_wall`` after the commit (``source="record"``; ``TimeFloor`` persists such
raises at most once a minute and ignores ones that are ahead of trusted time).

Bounded disk, corruption handling and loss accounting: see ``docs/journal.md``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from device.clock import Clock, SystemClock
from device.errors import JournalError
from device.journal import batches, schema
from device.journal import events as ev
from device.journal import housekeeping as hk
from device.journal.model import Batch, JournalStats, NewRecord, Record
from device.journal.recovery import start_fresh
from device.journal.seqfloor import SeqReservation
from device.journal.sqlite_file import (
    RECORD_COLUMNS,
    CorruptJournal,
    connect,
    prepare_path,
    transaction,
)

if TYPE_CHECKING:
    from device.clock.floor import TimeFloor

log = logging.getLogger(__name__)

HEADROOM_PAGES = 8  # an insert touches the table and four indexes
CHECKPOINT_INTERVAL_S = 0.25  # background WAL checkpoints after acks, at most this often
LOW_WATER = 0.9  # quota pressure purges down to this fraction of the quota
SQLITE_CORRUPT, SQLITE_FULL, SQLITE_NOTADB = 11, 13, 26

_INSERT = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RECORD_COLUMNS))})"
)


class DiskUsage(NamedTuple):
    total: int
    used: int
    free: int


def _errcode(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF


class Journal:
    """The terminal's scan journal over one SQLite file (see the module docstring).

    ``quota_bytes``, ``retention_s`` and ``min_free_bytes`` bound the disk it uses;
    ``set_aside_retention_s``: how long records the centre refused are kept;
    ``clock`` stamps upload, batch and event times and drives retention; ``timefloor``
    is raised to each stored record's time; ``disk_usage`` (``shutil.disk_usage``) is
    the free-space probe of the guard; ``purge_interval_s`` paces the retention purge
    that ``ack_batch`` runs. Opening checks integrity, applies migrations and replaces
    a corrupt file (``JournalError`` only if no journal can be started at all).
    """

    def __init__(
        self,
        path: Path,
        *,
        terminal_id: str,
        quota_bytes: int = 512 * 2**20,
        retention_s: float = 7 * 86400,
        min_free_bytes: int = 64 * 2**20,
        clock: Clock | None = None,
        timefloor: TimeFloor | None = None,
        disk_usage: Callable[[str], Any] = shutil.disk_usage,
        purge_interval_s: float = 60.0,
        set_aside_retention_s: float = 30 * 86400,
    ) -> None:
        if not terminal_id:
            raise JournalError("journal: terminal_id must not be empty")
        self._path = Path(path)
        self._terminal_id = terminal_id
        self._quota_bytes = int(quota_bytes)
        self._retention_s = float(retention_s)
        self._min_free_bytes = int(min_free_bytes)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._timefloor = timefloor
        self._disk_usage = disk_usage
        self._purge_interval_s = purge_interval_s
        self._set_aside_retention_s = float(set_aside_retention_s)
        self._lock = threading.RLock()
        self._ckpt_lock = threading.Lock()
        self._ckpt_conn: sqlite3.Connection | None = None
        self._last_ckpt_mono = float("-inf")
        self._db: sqlite3.Connection | None = None
        self._seqres = SeqReservation(self._path.with_name(self._path.name + ".seq"))
        self._corrupt_recoveries = 0
        self._lost_total = 0
        self._episode_lost: dict[str, int] = {}
        self._unsaved_lost: dict[str, int] = {}
        self._last_purge_mono = self._clock.monotonic()
        self._last_space_purge_mono = float("-inf")
        self._page_size = 4096
        with self._lock:
            self._open()
        newest = self._newest_t()
        if timefloor is not None and newest is not None:
            timefloor.raise_to(newest, "record")

    # -- opening, recovery ------------------------------------------------------------

    def _open(self) -> None:
        try:
            prepare_path(self._path)
        except OSError as exc:
            raise JournalError(
                f"cannot create the journal {self._path}: {exc}; check the state directory "
                "exists and belongs to the service user"
            ) from exc
        try:
            db = connect(self._path)
            try:
                schema.apply(db)
            except sqlite3.DatabaseError as exc:
                db.close()
                raise CorruptJournal(f"migrations failed: {exc}") from exc
        except CorruptJournal as exc:
            db = self._recover(str(exc))
        self._db = db
        self._load_state()

    def _recover(self, problem: str) -> sqlite3.Connection:
        db, _detail = start_fresh(self._path, problem=problem, now=self._clock.now(),
                                  terminal_id=self._terminal_id, seqres=self._seqres)
        self._corrupt_recoveries += 1
        return db

    def _load_state(self) -> None:
        conn = self._conn
        self._page_size = int(conn.execute("PRAGMA page_size").fetchone()[0])
        row = conn.execute(
            "SELECT last_seq FROM sequences WHERE terminal_id = ?", (self._terminal_id,)
        ).fetchone()
        # A journal without our row (new, deleted by hand, restored from an old copy):
        # resume above every seq ever reserved, so the centre never sees one twice.
        self._last_seq = int(row[0]) if row else self._seqres.reserved(self._terminal_id)
        self._n_records = int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
        self._n_pending = int(conn.execute(
            "SELECT count(*) FROM records WHERE uploaded = 0 AND set_aside = 0"
        ).fetchone()[0])
        self._n_set_aside = int(
            conn.execute("SELECT count(*) FROM records WHERE set_aside = 1").fetchone()[0]
        )
        row = conn.execute("SELECT value FROM meta WHERE key = 'lost_total'").fetchone()
        self._lost_total = max(self._lost_total, int(row[0]) if row else 0)

    @property
    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise JournalError("the journal is closed")
        return self._db

    def _recover_runtime(self, exc: sqlite3.Error) -> None:
        self._close_checkpointer()  # it points at the file about to be moved aside
        db, self._db = self._db, None
        if db is not None:
            with contextlib.suppress(sqlite3.Error):
                db.close()
        self._db = self._recover(f"{type(exc).__name__} while writing: {exc}")
        self._load_state()

    @property
    def path(self) -> Path:
        return self._path

    @property
    def terminal_id(self) -> str:
        return self._terminal_id

    def schema_migrations(self) -> list[str]:
        """Names of the migrations recorded in this database, in the order applied."""
        with self._lock:
            assert self._db is not None
            return schema.applied(self._db)

    # -- recording --------------------------------------------------------------------

    def record(self, rec: NewRecord) -> Record:
        """Journal one decision; committed (WAL, synchronous=FULL) before it returns.

        When the quota or the free-disk guard leaves no room, the decision is not stored:
        the returned record has ``stored=False``, the loss is counted, logged and queued
        as an event; the gate keeps working. A corrupt database is moved aside and the
        record written to a fresh one. Raises ``JournalError`` only for an unexpected
        I/O error (the loss is counted first).
        """
        with self._lock:
            out = self._record_locked(rec)
        if out.stored and self._timefloor is not None:
            self._timefloor.raise_to(out.t_wall, "record")
        return out

    def _record_locked(self, rec: NewRecord) -> Record:
        problem = self._space_problem()
        if problem is not None:
            return self._lose(rec, problem)
        try:
            return self._insert(rec)
        except sqlite3.Error as exc:
            code = _errcode(exc)
            if code in (SQLITE_CORRUPT, SQLITE_NOTADB):
                self._recover_runtime(exc)
                try:
                    return self._insert(rec)
                except sqlite3.Error as again:
                    self._lose(rec, "write_error")
                    raise JournalError(
                        f"fresh journal write failed too ({again}); decision counted as "
                        "lost; check the storage"
                    ) from again
            if code == SQLITE_FULL:
                return self._lose(rec, "disk_full")
            self._lose(rec, "write_error")
            raise JournalError(
                f"journal write failed ({exc}); the decision was counted as lost"
            ) from exc
        except OSError as exc:  # the seq reservation file could not be written
            self._lose(rec, "write_error")
            raise JournalError(
                f"journal side file write failed ({exc}); the decision was counted as lost; "
                "check the disk"
            ) from exc

    def _insert(self, rec: NewRecord) -> Record:
        conn = self._conn
        seq = self._last_seq + 1
        self._seqres.ensure(self._terminal_id, seq)
        out = Record(**{**rec.__dict__, "record_id": str(uuid.uuid4()),
                        "terminal_id": self._terminal_id, "seq": seq})
        with transaction(conn):
            conn.execute(_INSERT, tuple(getattr(out, c) for c in RECORD_COLUMNS))
            conn.execute(
                "INSERT INTO sequences (terminal_id, last_seq, last_t) VALUES (?, ?, ?) "
                "ON CONFLICT (terminal_id) DO UPDATE SET last_seq = excluded.last_seq, "
                "last_t = max(coalesce(last_t, 0), excluded.last_t)",
                (self._terminal_id, seq, out.t_wall),
            )
        self._last_seq = seq
        self._n_records += 1
        self._n_pending += 1
        return out

    def _live_bytes(self) -> int:
        return hk.live_bytes(self._conn, self._page_size)

    def _free_disk(self) -> int:
        return int(self._disk_usage(str(self._path.parent)).free)

    def _space_problem(self) -> str | None:
        need = HEADROOM_PAGES * self._page_size
        if self._live_bytes() + need > self._quota_bytes:
            target = max(1, int(self._quota_bytes * LOW_WATER) - need)
            self._purge_uploaded(cutoff=None, until_live=target, chunk=hk.SPACE_CHUNK)
            if self._live_bytes() + need > self._quota_bytes:
                return "quota"
        try:
            free = self._free_disk()
        except OSError as exc:  # cannot tell: keep recording, say so
            log.warning("journal: free-disk check failed (%s); guard skipped", exc)
            return None
        if free < self._min_free_bytes:
            now = self._clock.monotonic()
            if now - self._last_space_purge_mono >= 10.0:
                self._last_space_purge_mono = now
                if self._purge_uploaded(cutoff=None, until_live=0):
                    hk.shrink(self._conn)
            if self._free_disk() < self._min_free_bytes:
                return "disk_guard"
        return None

    def _lose(self, rec: NewRecord, reason: str) -> Record:
        self._lost_total += 1
        n = self._episode_lost[reason] = self._episode_lost.get(reason, 0) + 1
        detail: dict[str, Any] = {"reason": reason, "quota_bytes": self._quota_bytes}
        if reason == "disk_guard":
            detail["min_free_bytes"] = self._min_free_bytes
        unsaved = self._unsaved_lost[reason] = self._unsaved_lost.get(reason, 0) + 1
        try:
            conn = self._conn
            with transaction(conn):
                conn.execute(
                    "INSERT INTO meta (key, value) VALUES ('lost_total', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (str(self._lost_total),),
                )
                ev.add(conn, ev.LOST, self._clock.now(), detail, key=f"{ev.LOST}:{reason}",
                       count=unsaved, group=True)
            self._unsaved_lost[reason] = 0
        except sqlite3.Error as exc:
            log.error("journal: could not persist the loss count (%s); kept in memory", exc)
        if n == 1 or n % 100 == 0:
            log.warning(
                "journal: decision NOT stored (%s); %d lost in this episode, %d in total; "
                "reported to the centre as an event", reason, n, self._lost_total,
            )
        return Record(**{**rec.__dict__, "record_id": str(uuid.uuid4()),
                         "terminal_id": self._terminal_id, "seq": 0, "stored": False})

    # -- batches for the uplink -------------------------------------------------------

    def next_batch(self, max_records: int) -> Batch | None:
        """The oldest open batch again (same key, same records), else a new batch of the
        oldest pending records, committed with its idempotency key before it is returned.
        ``Batch.attempts`` counts the hand-outs, this one included."""
        if max_records < 1:
            raise ValueError("next_batch: max_records must be >= 1")
        with self._lock:
            if self._n_pending <= 0:
                # Nothing to send (every open batch holds pending records): no write
                # transaction, so an idle uploader's poll never contends with record().
                return None
            raw = batches.next_batch(self._conn, max_records, self._clock.now())
        return raw.to_batch() if raw is not None else None  # built outside the lock

    def ack_batch(self, batch_id: int, accepted_ids: Iterable[str] | None = None) -> None:
        """The centre stored the batch: mark its records uploaded. With ``accepted_ids``,
        only those are marked; the batch's other records go back to the pending pool and
        are sent again later in a new batch. Acking twice is harmless."""
        with self._lock:
            self._n_pending -= batches.ack(self._conn, batch_id, accepted_ids,
                                           self._clock.now())
            self._purge_if_due()
        self._checkpoint()

    def _purge_if_due(self) -> None:
        if self._clock.monotonic() - self._last_purge_mono >= self._purge_interval_s:
            self._purge_locked()

    def _checkpoint(self) -> None:
        """Copy the WAL into the database from a second connection, outside the journal
        lock, so that ``record()`` keeps committing meanwhile and rarely has to run the
        automatic checkpoint itself (it still does when nobody uploads)."""
        now = self._clock.monotonic()
        if now - self._last_ckpt_mono < CHECKPOINT_INTERVAL_S:
            return
        self._last_ckpt_mono = now
        with self._ckpt_lock:
            try:
                if self._ckpt_conn is None:
                    self._ckpt_conn = sqlite3.connect(
                        str(self._path), timeout=5.0, check_same_thread=False
                    )
                self._ckpt_conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            except sqlite3.Error as exc:
                log.debug("journal: background checkpoint skipped (%s)", exc)

    def _close_checkpointer(self) -> None:
        with self._ckpt_lock:
            if self._ckpt_conn is not None:
                self._ckpt_conn.close()
                self._ckpt_conn = None

    def set_aside_batch(self, batch_id: int, reason: str) -> None:
        """The centre refused the batch for good (a 4xx other than 408/409/429): keep its
        records for the technician, stop sending them, and queue an event."""
        with self._lock:
            n = batches.set_aside(self._conn, batch_id, reason, self._clock.now())
            self._n_pending -= n
            self._n_set_aside += n
            self._purge_if_due()  # a centre that refuses everything never acks

    # -- housekeeping -----------------------------------------------------------------

    def purge(self) -> int:
        """Delete uploaded records older than ``retention_s`` (by upload time), set-aside
        records older than ``set_aside_retention_s`` (by set-aside time) whose batch the
        centre was told about, closed batches without records and reported events;
        return the records deleted."""
        with self._lock:
            return self._purge_locked()

    def _purge_locked(self) -> int:
        self._last_purge_mono = self._clock.monotonic()
        now = self._clock.now()
        cutoff = now - self._retention_s
        n = self._purge_uploaded(cutoff=cutoff, until_live=0)
        aside = hk.purge_set_aside(self._conn, now - self._set_aside_retention_s)
        self._n_records -= aside
        self._n_set_aside -= aside
        n += aside
        hk.purge_closed(self._conn, cutoff)
        if n:
            hk.shrink(self._conn)
        return n

    def _purge_uploaded(
        self, *, cutoff: float | None, until_live: int, chunk: int = hk.PURGE_CHUNK
    ) -> int:
        n = hk.purge_uploaded(self._conn, cutoff=cutoff, until_live=until_live,
                              page_size=self._page_size, chunk=chunk)
        self._n_records -= n
        return n

    # -- status, events ---------------------------------------------------------------

    def stats(self) -> JournalStats:
        with self._lock:
            conn = self._conn
            row = conn.execute(
                "SELECT t_wall FROM records WHERE uploaded = 0 AND set_aside = 0 "
                "ORDER BY id LIMIT 1"
            ).fetchone()
            size = 0
            for suffix in ("", "-wal"):
                with contextlib.suppress(OSError):
                    size += os.path.getsize(str(self._path) + suffix)
            try:
                free: int | None = self._free_disk()
            except OSError:
                free = None
            return JournalStats(
                records=self._n_records, pending=self._n_pending,
                oldest_pending_t=float(row[0]) if row else None, lost=self._lost_total,
                set_aside=self._n_set_aside, size_bytes=size, last_seq=self._last_seq,
                quota_bytes=self._quota_bytes, live_bytes=self._live_bytes(),
                free_disk_bytes=free, corrupt_recoveries=self._corrupt_recoveries,
            )

    def events(self) -> list[dict[str, Any]]:
        """Reportable events not yet reported: dicts with event_id, kind, t, t_last,
        count, detail. Report them, then call ``mark_events_reported``. The events
        returned stop growing (a later loss opens a new event), so marking them reported
        never hides an occurrence the centre was not sent."""
        with self._lock:
            conn = self._conn
            with transaction(conn):
                return ev.export(conn, self._clock.now())

    def mark_events_reported(self, ids: Iterable[int]) -> None:
        with self._lock:
            conn = self._conn
            with transaction(conn):
                ev.mark_reported(conn, ids, self._clock.now())
            self._episode_lost.clear()

    def last_decision_t(self) -> float | None:
        """``t_wall`` of the newest record in journal order (the last decision stored
        before now), or None for an empty journal."""
        with self._lock:
            row = self._conn.execute(
                "SELECT t_wall FROM records ORDER BY id DESC LIMIT 1").fetchone()
            return float(row[0]) if row else None

    def accepted_since(self, t_from: float, limit: int) -> list[tuple[str, str, float]]:
        """``(code_id, clock_quality, t_wall)`` of ACCEPTED records with a code id and
        ``t_wall >= t_from``, newest first (journal order), at most ``limit``: what the
        daemon refills its anti-passback window from at start (index ``records_accepted_t``)."""
        if limit < 1:
            return []
        # INDEXED BY: the planner would rather scan the whole table in id order
        sql = ("SELECT code_id, clock_quality, t_wall FROM records "
               "INDEXED BY records_accepted_t "
               "WHERE decision = 'accept' AND code_id IS NOT NULL AND t_wall >= ? "
               "ORDER BY id DESC LIMIT ?")
        with self._lock:
            return [(str(c), str(q), float(t))
                    for c, q, t in self._conn.execute(sql, (t_from, int(limit)))]

    def _newest_t(self) -> float | None:
        with self._lock:
            row = self._conn.execute(
                "SELECT max(last_t) FROM sequences WHERE terminal_id = ?", (self._terminal_id,)
            ).fetchone()
            return float(row[0]) if row and row[0] is not None else None

    def close(self) -> None:
        self._close_checkpointer()
        with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.execute("PRAGMA optimize")
                self._db.close()
                self._db = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
