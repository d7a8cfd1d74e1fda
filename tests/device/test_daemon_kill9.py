"""kill -9 of a real daemon in the middle of a flood of scans, many times.

Every decision the daemon reported as recorded (its log line, written only after the
journal commit) must be in the journal afterwards, and the database must open cleanly
(no corruption, nothing moved aside, seq unique and increasing). The daemon is started
again on the same state directory each round, as systemd's Restart=on-failure does.
"""

from __future__ import annotations

import random
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from device.journal import Journal
from sim.errors import SimError
from sim.serial_pty import SimSerialReader
from tests.device.daemon_kit import make_site
from tests.device.daemon_proc import DaemonProcess, wait_connected

ROUNDS = 8


def _flood(reader: SimSerialReader, codes: list[str], stop: threading.Event) -> None:
    i = 0
    while not stop.is_set():
        try:
            reader.send(codes[i % len(codes)])
        except (SimError, OSError):
            return  # the terminal died with bytes in the pty: fine
        i += 1
        time.sleep(0.002)


@pytest.mark.slow
def test_kill_9_mid_flood_loses_no_reported_decision(tmp_path: Path) -> None:
    reader = SimSerialReader(link_path=tmp_path / "ttyACM-sim")
    sources = f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n'
    path, keys = make_site(tmp_path, sources=sources,
                           extra="[dedupe]\nwindow_s = 0.0\n")
    issuer = keys.issuer()
    # Distinct codes (each its own code id); minted once, sent round-robin.
    codes = [issuer.mint(random.choice(["green", "green", "red", "yellow"]))
             for _ in range(400)]
    rng = random.Random(9)
    reported: dict[str, int] = {}
    journal_path = tmp_path / "state" / "journal.db"
    try:
        for _ in range(ROUNDS):
            proc = DaemonProcess(path)
            stop = threading.Event()
            flood = threading.Thread(target=_flood, args=(reader, codes, stop), daemon=True)
            try:
                ready = proc.next_event("ready", 30)
                wait_connected(ready["screen"], timeout=15.0)
                flood.start()
                proc.next_event("decision", 10)  # the flood is being decided
                time.sleep(rng.uniform(0.05, 0.6))
                proc.kill()  # SIGKILL, mid-flood
            finally:
                stop.set()
                proc.kill()
                if flood.is_alive():
                    flood.join(5)
            for doc in proc.all:
                if doc.get("event") == "decision" and doc.get("record_id"):
                    reported[doc["record_id"]] = doc["seq"]
            # Drain what the dead terminal left unread in the pty.
            reader.unplug()
            reader.replug()
    finally:
        reader.close()

    assert len(reported) > ROUNDS * 5, "the flood was not decided: the test proves nothing"
    # The database opens cleanly, through the journal (integrity check at start).
    j = Journal(journal_path, terminal_id="test-gate")
    try:
        assert j.stats().records >= len(reported)
    finally:
        j.close()
    assert not list(journal_path.parent.glob("*.corrupt-*")), "the journal was moved aside"
    con = sqlite3.connect(journal_path)
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = dict(con.execute("SELECT record_id, seq FROM records").fetchall())
        seqs = [s for (s,) in con.execute("SELECT seq FROM records ORDER BY rowid")]
    finally:
        con.close()
    missing = [rid for rid in reported if rid not in rows]
    assert not missing, f"{len(missing)} decisions reported as recorded are not in the journal"
    assert all(rows[rid] == seq for rid, seq in reported.items())
    assert len(set(seqs)) == len(seqs) and seqs == sorted(seqs)
