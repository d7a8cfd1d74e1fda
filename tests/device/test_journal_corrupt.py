"""Corruption: a journal that fails its integrity check is moved aside, a fresh one works."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

from device.clock import ManualClock
from device.journal import Journal
from tests.device.journal_helpers import new_record, rows

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z


def write_journal(path: Path, n: int, uploaded: int = 0) -> list[str]:
    with Journal(path, terminal_id="T1") as j:
        ids = [j.record(new_record(i)).record_id for i in range(n)]
        if uploaded:
            b = j.next_batch(uploaded)
            assert b is not None
            j.ack_batch(b.batch_id)
    return ids


def forensic_copies(path: Path) -> list[Path]:
    return sorted(p for p in path.parent.iterdir() if ".corrupt-" in p.name)


def assert_recovered(path: Path, j: Journal) -> dict:
    copies = forensic_copies(path)
    assert copies and copies[0].name.startswith(path.name + ".corrupt-20270115T0800")
    evs = [e for e in j.events() if e["kind"] == "journal_corrupt"]
    assert len(evs) == 1
    assert evs[0]["detail"]["moved_to"] == copies[0].name
    assert j.stats().corrupt_recoveries == 1
    # The fresh journal works and passes its own check.
    r = j.record(new_record(10_000))
    assert r.stored
    assert rows(path, "PRAGMA quick_check") == [("ok",)]
    return dict(evs[0]["detail"])


def test_garbage_file_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    write_journal(path, 5)
    garbage = os.urandom(8192)
    path.write_bytes(garbage)
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        detail = assert_recovered(path, j)
        # The reservation file keeps seq monotonic although nothing could be read.
        assert j.stats().last_seq > 5
        assert detail["seq_resumed_at"] >= 5
    copy = forensic_copies(path)[0]
    assert copy.read_bytes() == garbage  # kept as it was, for forensics
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_not_a_database_text_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    path.write_text("this is not a database\n" * 100)
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        assert_recovered(path, j)


def test_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    ids = write_journal(path, 400)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        detail = assert_recovered(path, j)
        # Whatever could still be read was carried over; seq never goes back.
        carried = detail["pending_carried_over"]
        assert 0 <= carried < len(ids)
        assert j.stats().pending == carried + 1
        assert j.stats().last_seq > 400


def corrupt_page(path: Path, page_no: int) -> None:
    """Overwrite a whole page, header included. (Bytes 100..900 alone were flaky: on a leaf
    page that is not full they can fall in the unused gap between the cell pointers and
    the cells, which no integrity check sees.)"""
    page = 4096
    with open(path, "r+b") as f:
        f.seek((page_no - 1) * page)
        f.write(b"\xde\xad\xbe\xef" * (page // 4))


def test_corrupt_page_salvages_readable_pending_records(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    ids = write_journal(path, 600, uploaded=100)
    pages = rows(path, "PRAGMA page_count")[0][0]
    corrupt_page(path, pages - 2)
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        detail = assert_recovered(path, j)
        carried = detail["pending_carried_over"]
        assert carried <= 500
        got = {r for (r,) in rows(path, "SELECT record_id FROM records")}
        assert got - set(ids[100:]) == {r for (r,) in rows(
            path, "SELECT record_id FROM records WHERE seq > 600")}
        # Uploaded records are not carried over (the centre has them).
        assert not got & set(ids[:100])
        assert j.stats().last_seq > 600


def test_forensic_copy_keeps_its_wal(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    write_journal(path, 3)
    # Leave a -wal next to a broken main file (as after a crash).
    Path(str(path) + "-wal").write_bytes(b"\x00" * 1000)
    path.write_bytes(b"garbage" * 1000)
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        assert_recovered(path, j)
    names = [p.name for p in forensic_copies(path)]
    assert any(n.endswith("-wal") for n in names)


def test_a_second_corruption_gets_its_own_copy(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    clock = ManualClock(now=T0)
    for _ in range(2):
        path.write_bytes(b"x" * 5000)
        with Journal(path, terminal_id="T1", clock=clock) as j:
            assert j.record(new_record(1)).stored
    mains = [p for p in forensic_copies(path) if not p.name.endswith(("-wal", "-shm"))]
    assert len(mains) == 2


def test_healthy_journal_is_not_moved(tmp_path: Path) -> None:
    path = tmp_path / "journal.db"
    write_journal(path, 10)
    with Journal(path, terminal_id="T1") as j:
        assert j.stats().records == 10 and j.events() == []
    assert forensic_copies(path) == []
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_corruption_found_while_running_is_recovered_on_the_next_record(
    tmp_path: Path,
) -> None:
    path = tmp_path / "journal.db"
    with Journal(path, terminal_id="T1", clock=ManualClock(now=T0)) as j:
        for i in range(300):
            j.record(new_record(i))
        j._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
        pages = path.stat().st_size // 4096
        with open(path, "r+b") as f:  # the SD card garbles every page but the header
            for p in range(3, pages + 1):
                f.seek((p - 1) * 4096)
                f.write(os.urandom(4096))
        # Another writer touches the header: our connection drops its page cache.
        other = sqlite3.connect(path)
        other.execute("PRAGMA user_version = 7")
        other.commit()
        other.close()
        r = j.record(new_record(1000))
        assert r.stored and r.seq > 300
        detail = assert_recovered(path, j)
        assert "while writing" in detail["problem"]
