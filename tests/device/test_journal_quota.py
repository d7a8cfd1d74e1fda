"""Bounded disk: retention purge, quota purge order, counted losses, the free-disk guard."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.journal import Journal
from device.journal.store import DiskUsage
from tests.device.journal_helpers import new_record, rows

QUOTA = 200 * 1024  # the empty schema takes ~84 KiB


def fill_until_loss(j: Journal, start: int = 0) -> int:
    """Record until the first decision is not stored; return how many were stored."""
    i = start
    while j.record(new_record(i)).stored:
        i += 1
        assert i - start < 10_000, "quota never reached"
    return i - start


def test_retention_purges_only_old_uploaded_records(tmp_path: Path) -> None:
    clock = ManualClock(now=1_800_000_000.0)
    with Journal(tmp_path / "j.db", terminal_id="T1", clock=clock, retention_s=3600) as j:
        for i in range(6):
            j.record(new_record(i))
        b = j.next_batch(2)
        assert b is not None
        j.ack_batch(b.batch_id)  # uploaded at t0
        clock.advance(1800)
        b = j.next_batch(2)
        assert b is not None
        j.ack_batch(b.batch_id)  # uploaded at t0 + 1800
        clock.advance(1801)  # only the first two are past retention
        assert j.purge() == 2
        st = j.stats()
        assert (st.records, st.pending) == (4, 2)
        clock.advance(1800)
        assert j.purge() == 2
        assert j.purge() == 0
    assert [r[0] for r in rows(tmp_path / "j.db", "SELECT seq FROM records ORDER BY id")] == [5, 6]


def test_set_aside_records_are_purged_after_their_time_once_the_centre_knows(
        tmp_path: Path) -> None:
    # Records the centre refused (set aside) used to stay for ever: never sent, never
    # purged, and counted in the quota. The rule: kept set_aside_retention_s after being
    # set aside, and never before the batch_set_aside event has reached the centre.
    clock = ManualClock(now=1_800_000_000.0)
    path = tmp_path / "j.db"
    with Journal(path, terminal_id="T1", clock=clock, retention_s=3600,
                 set_aside_retention_s=86400, purge_interval_s=60) as j:
        for i in range(6):
            j.record(new_record(i))
        first = j.next_batch(2)
        assert first is not None
        j.set_aside_batch(first.batch_id, "HTTP 400: refused")
        clock.advance(3600)
        second = j.next_batch(2)
        assert second is not None
        j.set_aside_batch(second.batch_id, "HTTP 422: refused")
        assert j.stats().set_aside == 4
        clock.advance(86400 - 3600 + 1)  # the first batch is a day old, the second is not
        assert j.purge() == 0  # the centre has not been told about either batch yet
        events = j.events()
        j.mark_events_reported([e["event_id"] for e in events])
        assert j.purge() == 2
        st = j.stats()
        assert (st.records, st.set_aside, st.pending) == (4, 2, 2)
        clock.advance(3600)
        # no upload ever acknowledged (a centre refusing everything): the purge still
        # runs, paced, from set_aside_batch
        third = j.next_batch(2)
        assert third is not None
        j.set_aside_batch(third.batch_id, "HTTP 400")
        assert j.stats().set_aside == 2 + 2 - 2 and j.stats().records == 4 - 2
    left = rows(path, "SELECT seq, set_aside FROM records ORDER BY id")
    assert left == [(5, 1), (6, 1)]  # the third batch stays: its event is unreported
    assert rows(path, "SELECT count(*) FROM batches WHERE state = 'set_aside'") == [(1,)]


def test_quota_purges_uploaded_records_first_oldest_upload_first(tmp_path: Path) -> None:
    clock = ManualClock()
    path = tmp_path / "j.db"
    with Journal(path, terminal_id="T1", clock=clock, quota_bytes=QUOTA,
                 retention_s=10 * 86400) as j:
        stored = fill_until_loss(j)
        assert stored > 100
        lost_before = j.stats().lost
        # Upload three batches of 50, one minute apart.
        for _ in range(3):
            b = j.next_batch(50)
            assert b is not None
            j.ack_batch(b.batch_id)
            clock.advance(60)
        # Retention has not passed, but the quota needs room: uploaded ones go first,
        # the earliest uploaded first, and only as many as needed.
        r = j.record(new_record(99_999))
        assert r.stored
        assert j.stats().lost == lost_before
        left = [s for (s,) in rows(path, "SELECT seq FROM records WHERE uploaded = 1")]
        pending = [s for (s,) in rows(path, "SELECT seq FROM records WHERE uploaded = 0")]
        assert pending == list(range(151, stored + 2))
        assert 0 < len(left) < 150
        assert left == list(range(151 - len(left), 151))


def test_quota_loss_when_only_pending_records_remain(tmp_path: Path,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.db"
    with Journal(path, terminal_id="T1", quota_bytes=QUOTA, clock=ManualClock()) as j:
        stored = fill_until_loss(j)
        seq_before = j.stats().last_seq
        caplog.set_level(logging.WARNING, logger="device.journal.store")
        results = [j.record(new_record(50_000 + i, subject_ref="SECRET-REF")) for i in range(4)]
        assert not any(r.stored for r in results)
        assert all(r.seq == 0 for r in results)
        st = j.stats()
        assert st.lost == 5 and st.pending == stored and st.last_seq == seq_before
        evs = [e for e in j.events() if e["kind"] == "records_lost"]
        assert [(e["count"], e["detail"]["reason"]) for e in evs] == [(5, "quota")]
        assert "not stored" in caplog.text.lower()
        assert "SECRET-REF" not in caplog.text  # no personal data in logs
        # Reported: the next loss opens a new event.
        j.mark_events_reported([e["event_id"] for e in evs])
        assert not j.record(new_record(60_000)).stored
        evs2 = [e for e in j.events() if e["kind"] == "records_lost"]
        assert [e["count"] for e in evs2] == [1]
    # The count survives a restart; pending records were never dropped.
    with Journal(path, terminal_id="T1", quota_bytes=QUOTA) as j:
        assert j.stats().lost == 6
        assert j.stats().pending == stored
    lost_rows = rows(path, "SELECT count(*) FROM records WHERE subject_ref = 'SECRET-REF'")
    assert lost_rows == [(0,)]


def test_after_upload_the_journal_stores_again(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", terminal_id="T1", quota_bytes=QUOTA) as j:
        fill_until_loss(j)
        while (b := j.next_batch(100)) is not None:
            j.ack_batch(b.batch_id)
        assert j.record(new_record(1)).stored


class FakeDisk:
    """A disk_usage callable the test drives."""

    def __init__(self, free: int) -> None:
        self.free = free
        self.calls: list[str] = []

    def __call__(self, path: str) -> DiskUsage:
        self.calls.append(path)
        return DiskUsage(total=10 * 2**30, used=10 * 2**30 - self.free, free=self.free)


def test_disk_guard_stops_writing_and_counts(tmp_path: Path) -> None:
    disk = FakeDisk(free=1 * 2**30)
    path = tmp_path / "j.db"
    with Journal(path, terminal_id="T1", disk_usage=disk, min_free_bytes=64 * 2**20) as j:
        assert j.record(new_record(1)).stored
        disk.free = 10 * 2**20  # below the guard
        lost = [j.record(new_record(2 + i)) for i in range(3)]
        assert not any(r.stored for r in lost)
        st = j.stats()
        assert (st.lost, st.records, st.free_disk_bytes) == (3, 1, 10 * 2**20)
        evs = j.events()
        assert [(e["kind"], e["count"], e["detail"]["reason"]) for e in evs] == [
            ("records_lost", 3, "disk_guard")
        ]
        disk.free = 1 * 2**30
        r = j.record(new_record(9))
        assert r.stored and r.seq == 2
    assert disk.calls and all(c == str(tmp_path) for c in disk.calls)


def test_disk_guard_purges_uploaded_records_to_make_room(tmp_path: Path) -> None:
    disk = FakeDisk(free=1 * 2**30)
    clock = ManualClock()
    path = tmp_path / "j.db"
    with Journal(path, terminal_id="T1", disk_usage=disk, clock=clock) as j:
        for i in range(20):
            j.record(new_record(i))
        b = j.next_batch(10)
        assert b is not None
        j.ack_batch(b.batch_id)
        disk.free = 1  # the guard trips; uploaded records are deleted, still no room
        assert not j.record(new_record(100)).stored
        assert j.stats().records == 10  # only the 10 pending ones are left
        assert j.stats().pending == 10


def test_a_loss_after_events_were_read_is_not_hidden_by_marking_them(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.db", terminal_id="T1", quota_bytes=QUOTA) as j:
        fill_until_loss(j)
        sent = j.events()  # the heartbeat reads them ...
        assert [e["count"] for e in sent] == [1]
        assert not j.record(new_record(70_000)).stored  # ... a loss happens meanwhile ...
        j.mark_events_reported([e["event_id"] for e in sent])  # ... then it is delivered
        later = j.events()
        assert [(e["kind"], e["count"]) for e in later] == [("records_lost", 1)]
        assert j.stats().lost == 2
