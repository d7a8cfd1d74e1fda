"""Journal basics on a real SQLite file: durability settings, seq, migrations, batches."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import pytest
from sqlite_utils import Database

from device.clock import ManualClock
from device.journal import Journal
from device.journal.schema import MIGRATION_SET
from tests.device.journal_helpers import new_record, rows


@pytest.fixture
def jpath(tmp_path: Path) -> Path:
    return tmp_path / "state" / "journal.db"


def test_record_is_committed_and_visible_to_another_connection(jpath: Path) -> None:
    j = Journal(jpath, terminal_id="T1")
    try:
        rec = j.record(new_record(1))
        assert rec.stored and rec.seq == 1 and rec.terminal_id == "T1"
        assert uuid.UUID(rec.record_id).version == 4
        # Another connection sees it: the transaction is committed, not pending.
        got = rows(jpath, "SELECT record_id, seq, reason, subject_ref, uploaded FROM records")
        assert got == [(rec.record_id, 1, "ok", "ref00000001", 0)]
    finally:
        j.close()


def test_connection_uses_wal_and_synchronous_full(jpath: Path) -> None:
    j = Journal(jpath, terminal_id="T1")
    try:
        conn = j._conn
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    finally:
        j.close()


def test_seq_is_monotonic_across_reopen(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        seqs = [j.record(new_record(i)).seq for i in range(5)]
    with Journal(jpath, terminal_id="T1") as j:
        seqs += [j.record(new_record(i)).seq for i in range(5, 8)]
        assert j.stats().last_seq == 8
    assert seqs == list(range(1, 9))


def test_seq_survives_purging_every_record(jpath: Path) -> None:
    clock = ManualClock()
    with Journal(jpath, terminal_id="T1", clock=clock, retention_s=10) as j:
        for i in range(3):
            j.record(new_record(i))
        b = j.next_batch(10)
        assert b is not None
        j.ack_batch(b.batch_id)
        clock.advance(11)
        assert j.purge() == 3
        assert j.stats().records == 0
    with Journal(jpath, terminal_id="T1", clock=clock) as j:
        assert j.record(new_record(9)).seq == 4


def test_migrations_recorded_and_rerun_safe(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        names = j.schema_migrations()
        j.record(new_record(1))
    assert names == ["m001_records", "m002_batches", "m003_events", "m004_events_exported",
                     "m005_accepted_by_time"]
    with Journal(jpath, terminal_id="T1") as j:
        assert j.schema_migrations() == names
        assert j.stats().records == 1
    got = rows(jpath, "SELECT migration_set, name FROM _sqlite_migrations ORDER BY id")
    assert got == [(MIGRATION_SET, n) for n in names]
    db = Database(jpath)
    try:
        assert {"records", "batches", "events", "sequences", "meta"} <= set(db.table_names())
    finally:
        db.close()


def test_file_and_directory_modes(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        j.record(new_record(1))
        wal = Path(str(jpath) + "-wal")
        assert wal.exists()
        assert stat.S_IMODE(wal.stat().st_mode) & 0o077 == 0
    assert stat.S_IMODE(jpath.stat().st_mode) == 0o600
    assert stat.S_IMODE(jpath.parent.stat().st_mode) == 0o700


def test_existing_loose_file_is_tightened(tmp_path: Path) -> None:
    p = tmp_path / "journal.db"
    p.touch()
    os.chmod(p, 0o644)
    with Journal(p, terminal_id="T1") as j:
        j.record(new_record(1))
    assert stat.S_IMODE(p.stat().st_mode) == 0o600


def test_batch_reuses_key_and_records_until_acked(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        recs = [j.record(new_record(i)) for i in range(7)]
        b1 = j.next_batch(5)
        assert b1 is not None and b1.attempts == 1
        assert [r.record_id for r in b1.records] == [r.record_id for r in recs[:5]]
        assert uuid.UUID(b1.idempotency_key).version == 4
        # Key is stored with the batch before anything is sent.
        assert rows(jpath, "SELECT idempotency_key, state FROM batches") == [
            (b1.idempotency_key, "open")
        ]
        b2 = j.next_batch(3)  # a retry, even with another size: the same batch
        assert b2 is not None
        assert (b2.batch_id, b2.idempotency_key, b2.records) == (
            b1.batch_id, b1.idempotency_key, b1.records)
        assert b2.attempts == 2
    # ... and after a restart
    with Journal(jpath, terminal_id="T1") as j:
        b3 = j.next_batch(50)
        assert b3 is not None
        assert (b3.idempotency_key, b3.records, b3.attempts) == (
            b1.idempotency_key, b1.records, 3)
        j.ack_batch(b3.batch_id)
        assert j.stats().pending == 2
        b4 = j.next_batch(50)
        assert b4 is not None and b4.idempotency_key != b1.idempotency_key
        assert [r.record_id for r in b4.records] == [r.record_id for r in recs[5:]]


def test_ack_marks_uploaded_and_is_idempotent(jpath: Path) -> None:
    clock = ManualClock(now=1_800_000_500.0)
    with Journal(jpath, terminal_id="T1", clock=clock) as j:
        for i in range(3):
            j.record(new_record(i))
        b = j.next_batch(10)
        assert b is not None
        j.ack_batch(b.batch_id)
        j.ack_batch(b.batch_id)  # a duplicate ack changes nothing
        st = j.stats()
        assert (st.records, st.pending, st.oldest_pending_t) == (3, 0, None)
        assert j.next_batch(10) is None
    got = rows(jpath, "SELECT uploaded, uploaded_t, batch_id FROM records")
    assert got == [(1, 1_800_000_500.0, b.batch_id)] * 3
    assert rows(jpath, "SELECT state FROM batches") == [("acked",)]


def test_idle_poll_takes_no_write_lock(jpath: Path) -> None:
    """An uploader polls next_batch every few seconds; with nothing pending that poll must
    not take SQLite's write lock (it would queue behind, and delay, a decision's commit).
    Another connection holds the write lock: the idle poll answers None at once."""
    with Journal(jpath, terminal_id="T1", clock=ManualClock()) as j:
        j.record(new_record(0))
        b = j.next_batch(10)
        assert b is not None
        j.ack_batch(b.batch_id)
        writer = sqlite3.connect(jpath, timeout=0.1)
        try:
            writer.execute("BEGIN IMMEDIATE")
            assert j.next_batch(10) is None
            writer.rollback()
        finally:
            writer.close()
        j.record(new_record(1))  # and a pending record is still handed out
        again = j.next_batch(10)
        assert again is not None and [r.seq for r in again.records] == [2]


def test_partial_ack_returns_the_rest_to_the_pool_oldest_first(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        recs = [j.record(new_record(i)) for i in range(6)]
        b = j.next_batch(4)
        assert b is not None
        j.ack_batch(b.batch_id, accepted_ids=[recs[0].record_id, recs[2].record_id])
        assert j.stats().pending == 4
        nxt = j.next_batch(10)
        assert nxt is not None
        assert [r.record_id for r in nxt.records] == [
            recs[i].record_id for i in (1, 3, 4, 5)
        ]


def test_set_aside_batch(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        recs = [j.record(new_record(i)) for i in range(5)]
        b = j.next_batch(2)
        assert b is not None
        j.set_aside_batch(b.batch_id, "HTTP 400: bad record")
        st = j.stats()
        assert (st.pending, st.set_aside, st.records) == (3, 2, 5)
        assert st.oldest_pending_t == recs[2].t_wall
        nxt = j.next_batch(10)
        assert nxt is not None
        assert [r.record_id for r in nxt.records] == [r.record_id for r in recs[2:]]
        kinds = [(e["kind"], e["detail"]["records"]) for e in j.events()]
        assert kinds == [("batch_set_aside", 2)]
        j.ack_batch(b.batch_id)  # too late: the set-aside stays
        assert j.stats().set_aside == 2


def test_batches_are_oldest_first(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        recs = [j.record(new_record(i)) for i in range(10)]
        seen: list[int] = []
        while (b := j.next_batch(3)) is not None:
            seen += [r.seq for r in b.records]
            j.ack_batch(b.batch_id)
        assert seen == [r.seq for r in recs]


def test_events_reported_once(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        j.record(new_record(0))
        b = j.next_batch(1)
        assert b is not None
        j.set_aside_batch(b.batch_id, "HTTP 422")
        evs = j.events()
        assert len(evs) == 1
        j.mark_events_reported([e["event_id"] for e in evs])
        assert j.events() == []


def test_many_threads_record_concurrently(jpath: Path) -> None:
    n_threads, per_thread = 8, 40
    with Journal(jpath, terminal_id="T1") as j:
        out: list[str] = []
        lock = threading.Lock()
        errors: list[BaseException] = []

        def work(k: int) -> None:
            try:
                for i in range(per_thread):
                    r = j.record(new_record(k * 1000 + i))
                    with lock:
                        out.append(r.record_id)
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert j.stats().last_seq == n_threads * per_thread
    seqs = [r[0] for r in rows(jpath, "SELECT seq FROM records ORDER BY id")]
    assert seqs == list(range(1, n_threads * per_thread + 1))
    ids = {r[0] for r in rows(jpath, "SELECT record_id FROM records")}
    assert ids == set(out)


def test_closed_journal_raises_journal_error(jpath: Path) -> None:
    from device.errors import JournalError

    j = Journal(jpath, terminal_id="T1")
    j.close()
    with pytest.raises(JournalError):
        j.record(new_record(1))


def test_seq_never_repeats_when_the_journal_file_is_deleted(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        last = [j.record(new_record(i)).seq for i in range(3)][-1]
    for suffix in ("", "-wal", "-shm"):
        Path(str(jpath) + suffix).unlink(missing_ok=True)
    with Journal(jpath, terminal_id="T1") as j:
        assert j.record(new_record(9)).seq > last


def test_opening_an_up_to_date_journal_does_not_import_sqlite_utils(jpath: Path) -> None:
    # sqlite-utils pulls in numpy, click and pluggy (~0.1-0.2 s of a start, during which
    # the terminal is blind): only a pending migration may need it.
    with Journal(jpath, terminal_id="T1") as j:
        j.record(new_record(1))
    code = ("import sys; from pathlib import Path; from device.journal import Journal; "
            f"j = Journal(Path({str(jpath)!r}), terminal_id='T1'); "
            "assert j.stats().records == 1; j.close(); "
            "print(sorted(m for m in ('sqlite_utils', 'numpy', 'click') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "[]"


def test_an_older_journal_is_migrated_and_keeps_its_data(jpath: Path) -> None:
    with Journal(jpath, terminal_id="T1") as j:
        rid = j.record(new_record(1)).record_id
    # Turn it back into a journal written before m004 existed.
    conn = sqlite3.connect(jpath)
    conn.execute("ALTER TABLE events DROP COLUMN exported_t")
    conn.execute("DELETE FROM _sqlite_migrations WHERE name = 'm004_events_exported'")
    conn.commit()
    conn.close()
    with Journal(jpath, terminal_id="T1") as j:
        assert j.schema_migrations()[-1] == "m004_events_exported"
        assert j.record(new_record(2)).seq == 2
    cols = [r[1] for r in rows(jpath, "PRAGMA table_info(events)")]
    assert "exported_t" in cols
    assert rows(jpath, "SELECT record_id FROM records WHERE seq = 1") == [(rid,)]


def test_unwritable_side_file_is_a_counted_journal_error(jpath: Path) -> None:
    from device.errors import JournalError

    jpath.parent.mkdir(mode=0o700)
    Path(str(jpath) + ".seq.tmp").mkdir()  # the reservation cannot be written
    with Journal(jpath, terminal_id="T1") as j:
        with pytest.raises(JournalError, match="counted as lost"):
            j.record(new_record(1))
        assert j.stats().lost == 1 and j.stats().records == 0
        assert [e["detail"]["reason"] for e in j.events()] == ["write_error"]
