"""TimeFloor on a real file with a ManualClock: 1970 clocks, jumps, persistence, quality."""

from __future__ import annotations

import json
import stat
import time
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.clock.floor import BUILD_TIME, ClockQuality, TimeFloor

REAL = 1_800_000_000.0  # "true" time in these tests, after the build time
BOOT = "boot-a"


def make(path: Path, clock: ManualClock, boot: str = BOOT, **kw: float) -> TimeFloor:
    return TimeFloor(path, clock=clock, build_time=1_795_000_000.0,
                     boot_id=lambda: boot, **kw)


@pytest.fixture
def fpath(tmp_path: Path) -> Path:
    return tmp_path / "state" / "timefloor.json"


def test_build_time_is_a_plausible_release_date() -> None:
    assert 1_767_225_600 <= BUILD_TIME <= time.time()  # 2026-01-01 .. now


def test_fresh_terminal_with_1970_clock_uses_the_build_floor(fpath: Path) -> None:
    clock = ManualClock(now=0.0, monotonic=50.0)
    tf = make(fpath, clock)
    tt = tf.now()
    assert (tt.t, tt.quality) == (1_795_000_000.0, ClockQuality.UNSURE)
    clock.advance(30)  # time still moves forward, by the monotonic clock
    assert tf.now().t == 1_795_000_030.0
    st = tf.status()
    assert st["quality"] == "unsure" and st["behind_s"] > 1e9 and not st["trusted_ever"]


def test_trusted_raise_then_clock_behind_is_floor(fpath: Path) -> None:
    clock = ManualClock(now=0.0, monotonic=50.0)
    tf = make(fpath, clock)
    tf.raise_to(REAL, "central-date")
    tt = tf.now()
    assert (tt.t, tt.quality) == (REAL, ClockQuality.FLOOR)
    clock.advance(10)
    assert tf.now().t == REAL + 10


def test_synced_when_clock_agrees_with_the_centre(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock)
    assert tf.now().quality is ClockQuality.UNSURE  # nobody vouched yet
    tf.raise_to(REAL - 1, "central-date")  # Date header: whole seconds, a bit behind
    assert tf.now().quality is ClockQuality.SYNCED
    assert tf.now().t == REAL
    clock.advance(3600)
    assert tf.now().quality is ClockQuality.SYNCED


def test_sync_goes_stale(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock, sync_max_age_s=600)
    tf.raise_to(REAL, "central-date")
    clock.advance(601)
    assert tf.now().quality is ClockQuality.UNSURE


def test_clock_jumps_back(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock)
    tf.raise_to(REAL, "central-date")
    clock.advance(100)
    clock.set_wall(REAL - 86400)  # NTP-less reboot of the RTC-less clock, or a bad set
    tt = tf.now()
    assert tt.quality is ClockQuality.FLOOR
    assert tt.t == REAL + 100  # floor carried forward by the monotonic clock
    assert tf.status()["behind_s"] == pytest.approx(86500)


def test_clock_jumping_forward_is_unsure_and_cannot_poison_the_floor(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock)
    tf.raise_to(REAL, "central-date")
    clock.set_wall(REAL + 10 * 365 * 86400)
    tt = tf.now()
    assert tt.quality is ClockQuality.UNSURE and tt.t == clock.now()
    tf.raise_to(tt.t, "record")  # the journal would do this for a record at that time
    clock.set_wall(REAL + 5)
    tt = tf.now()
    assert (tt.t, tt.quality) == (REAL + 5, ClockQuality.SYNCED)


def test_raise_to_never_lowers(fpath: Path) -> None:
    clock = ManualClock(now=0.0, monotonic=50.0)
    tf = make(fpath, clock)
    tf.raise_to(REAL, "trust-list")
    tf.raise_to(REAL - 1000, "central-date")
    tf.raise_to(REAL - 5000, "record")
    assert tf.now().t == REAL
    tf.flush()
    tf2 = make(fpath, clock)
    assert tf2.now().t == REAL


def test_trusted_raise_is_persisted_across_restarts(fpath: Path) -> None:
    clock = ManualClock(now=0.0, monotonic=50.0)
    make(fpath, clock).raise_to(REAL, "trust-list")  # no flush: written at once
    data = json.loads(fpath.read_text())
    assert data["floor_t"] == REAL and data["trusted_ever"] is True
    assert stat.S_IMODE(fpath.stat().st_mode) == 0o600
    # A reboot: monotonic starts again, the wall clock says 1970.
    clock2 = ManualClock(now=0.0, monotonic=5.0)
    tf = make(fpath, clock2, boot="boot-b")
    tt = tf.now()
    assert (tt.t, tt.quality) == (REAL, ClockQuality.FLOOR)
    clock2.advance(7)
    assert tf.now().t == REAL + 7


def test_record_raises_are_written_lazily_and_on_flush(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock, persist_interval_s=60)
    tf.raise_to(REAL + 1, "record")
    first = json.loads(fpath.read_text())["floor_t"]  # first raise past the file: written
    assert first == REAL + 1
    tf.raise_to(REAL + 30, "record")  # < 60 s past the file: memory only
    assert json.loads(fpath.read_text())["floor_t"] == REAL + 1
    tf.raise_to(REAL + 100, "record")
    assert json.loads(fpath.read_text())["floor_t"] == REAL + 100
    tf.raise_to(REAL + 110, "record")
    tf.flush()
    assert json.loads(fpath.read_text())["floor_t"] == REAL + 110


def test_sync_survives_a_daemon_restart_in_the_same_boot_only(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    make(fpath, clock).raise_to(REAL, "central-date")
    clock.advance(20)
    assert make(fpath, clock).now().quality is ClockQuality.SYNCED
    assert make(fpath, clock, boot="boot-b").now().quality is ClockQuality.UNSURE


def test_unreadable_file_falls_back_to_the_build_time(fpath: Path) -> None:
    fpath.parent.mkdir(parents=True)
    fpath.write_text("{not json")
    clock = ManualClock(now=0.0, monotonic=1.0)
    tt = make(fpath, clock).now()
    assert (tt.t, tt.quality) == (1_795_000_000.0, ClockQuality.UNSURE)


def test_status_fields(fpath: Path) -> None:
    clock = ManualClock(now=REAL, monotonic=50.0)
    tf = make(fpath, clock)
    tf.raise_to(REAL, "central-date")
    st = tf.status()
    assert st["quality"] == "synced" and st["sync_source"] == "central-date"
    assert st["t_iso"] == time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(REAL))
    assert st["last_sync_age_s"] == 0 and st["behind_s"] == 0


def test_journal_raises_the_floor_to_the_newest_record(tmp_path: Path) -> None:
    from device.journal import Journal
    from tests.device.journal_helpers import new_record

    clock = ManualClock(now=0.0, monotonic=50.0)
    tf = make(tmp_path / "tf.json", clock)
    with Journal(tmp_path / "j.db", terminal_id="T1", timefloor=tf, clock=clock) as j:
        j.record(new_record(0, t_wall=REAL + 500))
    assert tf.now().t == REAL + 500
    # A fresh floor (file lost) is raised from the journal when it opens.
    tf2 = make(tmp_path / "other.json", clock)
    with Journal(tmp_path / "j.db", terminal_id="T1", timefloor=tf2, clock=clock):
        assert tf2.now().t == REAL + 500
