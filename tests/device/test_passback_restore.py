"""The anti-passback window refilled from a real journal at start (device/daemon/restore.py),
and across a real restart of the daemon."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from gpiozero.pins.mock import MockFactory

from device.clock.floor import ClockQuality, TrustedTime
from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from device.daemon.restore import restore_passback
from device.decide import PassbackMemory
from device.journal import Journal
from tests.device.daemon_kit import FedSource, asynctest, load, make_site
from tests.device.journal_helpers import new_record

WINDOW = 300.0
T = 1_800_000_000.0
MONO = 1000.0


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    j = Journal(tmp_path / "journal.db", terminal_id="T1")
    # (code id, seconds before T, quality, decision), oldest first
    for code, ago, quality, decision in [
        ("gone", 400, "synced", "accept"),   # older than the window
        ("a", 250, "synced", "accept"),
        ("b", 100, "unsure", "accept"),      # stamped by an unvouched clock
        ("denied", 90, "synced", "deny"),    # never accepted: not remembered
        ("c", 30, "synced", "accept"),
        ("ahead", -50, "synced", "accept"),  # stamped after the last one: the clock went back
        ("last", 0, "synced", "deny"),       # the last decision before the stop
    ]:
        j.record(new_record(t_wall=T - ago, code_id=code, clock_quality=quality,
                            decision=decision, reason="ok" if decision == "accept" else "x"))
    return j


def remembered(m: PassbackMemory) -> dict[str, float]:
    """code id -> seconds of window left at MONO (probed forward in time: a probe prunes
    what has expired by then)."""
    out = {}
    for left in range(int(WINDOW) + 1):
        for code in ("gone", "a", "b", "denied", "c", "ahead"):
            if m.seen_within(code, MONO + left - 0.5):
                out[code] = float(left)
    return out


def test_a_synced_clock_ages_synced_records_by_the_time_since(journal: Journal) -> None:
    m = PassbackMemory(WINDOW)
    # the terminal was down 200 s; the clock is synced now
    n = restore_passback(journal, m, TrustedTime(T + 200, ClockQuality.SYNCED), MONO)
    assert n == 3
    # c: accepted 230 s ago -> 70 s left; a: 450 s ago -> gone; b (an unsure stamp):
    # aged by the journal's own time only (100 s before the last decision) -> 200 s left
    assert remembered(m) == {"c": 70.0, "b": 200.0, "ahead": 150.0}


def test_an_unvouched_clock_takes_the_downtime_as_zero(journal: Journal) -> None:
    m = PassbackMemory(WINDOW)
    # after a reboot without a clock: now is the time floor (here: a day later, unsure)
    restore_passback(journal, m, TrustedTime(T + 86400, ClockQuality.UNSURE), MONO)
    # ages from the last decision: a 250 s, b 100 s, c 30 s; ahead: just accepted
    assert remembered(m) == {"a": 50.0, "b": 200.0, "c": 270.0, "ahead": 300.0}


def test_a_clock_behind_the_journal_never_makes_records_younger(journal: Journal) -> None:
    m = PassbackMemory(WINDOW)
    restore_passback(journal, m, TrustedTime(T - 1000, ClockQuality.SYNCED), MONO)
    # the journal's own order still ages them; "gone" stays gone
    assert remembered(m) == {"a": 50.0, "b": 200.0, "c": 270.0, "ahead": 300.0}


def test_nothing_to_restore(tmp_path: Path) -> None:
    m = PassbackMemory(WINDOW)
    with Journal(tmp_path / "j.db", terminal_id="T1") as j:
        assert restore_passback(j, m, TrustedTime(T, ClockQuality.SYNCED), MONO) == 0
        j.record(new_record(t_wall=T, code_id="x"))
        assert restore_passback(j, PassbackMemory(0), TrustedTime(T, ClockQuality.SYNCED),
                                MONO) == 0  # anti-passback off
    assert len(m) == 0


@asynctest
async def test_a_code_accepted_before_a_restart_is_a_replay_after_it(tmp_path: Path) -> None:
    path, keys = make_site(tmp_path, extra="[dedupe]\nwindow_s = 0.0\n")
    issuer = keys.issuer()
    shown, fresh, yellow = issuer.mint("green"), issuer.mint("green"), issuer.mint("yellow")

    async def decide(payloads: list[str]) -> list[str]:
        src = FedSource()
        outs: list[Outcome] = []
        d = Daemon(load(path), pin_factory=MockFactory(), sources=[src],
                   write_log=lambda _: None, on_outcome=outs.append)
        await d.start()
        try:
            for p in payloads:
                src.feed(p)
            for _ in range(500):
                if len(outs) == len(payloads):
                    break
                await asyncio.sleep(0.01)
        finally:
            await d.stop()
        return [o.verdict.reason.value for o in outs]

    assert await decide([shown, yellow]) == ["ok", "status_yellow"]
    # the daemon restarts (a crash, an upgrade): the screenshot is handed back
    assert await decide([shown, fresh, yellow]) == ["replayed", "ok", "status_yellow"]
