"""The daemon in-process on simulated hardware: scans drive MockPins, policy, journal, log."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory

from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome, code_hash
from tests.device.daemon_kit import FedSource, asynctest, load, make_site

RELAY, GREEN, RED, BUZZ, PASSAGE = 17, 27, 22, 23, 24


class Run:
    def __init__(self, daemon: Daemon, source: FedSource, factory: MockFactory, keys: Any,
                 lines: list[str], outcomes: list[Outcome]) -> None:
        self.daemon, self.source, self.factory, self.keys = daemon, source, factory, keys
        self.lines, self.outcomes = lines, outcomes
        self.issuer = keys.issuer()

    async def decide(self, payload: str | bytes, source: FedSource | None = None) -> Outcome:
        n = len(self.outcomes)
        (source or self.source).feed(payload)
        for _ in range(400):
            if len(self.outcomes) > n:
                return self.outcomes[n]
            await asyncio.sleep(0.005)
        raise AssertionError("no decision within 2 s")

    def pin(self, n: int) -> Any:
        return self.factory.pin(n)


async def start(tmp_path: Path, **site: Any) -> Run:
    path, keys = make_site(tmp_path, extra="[dedupe]\nwindow_s = 0.0\n", **site)
    lines: list[str] = []
    outcomes: list[Outcome] = []
    src = FedSource()
    factory = MockFactory()
    d = Daemon(load(path), pin_factory=factory, sources=[src], write_log=lines.append,
               on_outcome=outcomes.append)
    await d.start()
    return Run(d, src, factory, keys, lines, outcomes)


def with_run(func: Callable[[Run], Any]) -> Any:
    """A test body that gets a started daemon, stopped afterwards."""
    async def body(tmp_path: Path) -> None:
        r = await start(tmp_path)
        try:
            await func(r)
        finally:
            await r.daemon.stop()

    body.__name__ = func.__name__
    body.__doc__ = func.__doc__
    return asynctest(body)


async def wait_until(cond: Callable[[], bool], timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


@with_run
async def test_green_opens_the_gate(run: Run) -> None:
    out = await run.decide(run.issuer.mint("green"))
    assert out.verdict.accepted and out.verdict.reason.value == "ok"
    assert run.pin(RELAY).state and run.pin(GREEN).state and not run.pin(RED).state
    await wait_until(lambda: not run.pin(RELAY).state)
    run.pin(RELAY).assert_states([False, True, False])
    assert [s.state for s in run.pin(BUZZ).states] in ([False, True], [False, True, False])


@with_run
async def test_red_denies_with_three_beeps(run: Run) -> None:
    out = await run.decide(run.issuer.mint("red"))
    assert out.verdict.reason.value == "status_red"
    assert run.pin(RED).state and not run.pin(RELAY).state
    await wait_until(lambda: len(run.pin(BUZZ).states) == 7)
    assert [s.state for s in run.pin(RELAY).states] == [False]


@with_run
async def test_bad_input_gets_a_verdict_not_a_crash(run: Run) -> None:
    for junk in (b"", b"\x00\xff" * 100, b"SG1:!!!", b"HC1:" + b"A" * 5000):
        out = await run.decide(junk)
        assert not out.verdict.accepted
    assert (await run.decide(run.issuer.mint("green"))).verdict.accepted


@with_run
async def test_anti_passback_replayed_screenshot(run: Run) -> None:
    code = run.issuer.mint("green")
    first = await run.decide(code)
    assert first.verdict.accepted
    other = FedSource("test:other")  # the same screenshot at another reader of this gate
    again = await run.decide(code)
    assert again.verdict.reason.value == "replayed" and not again.verdict.accepted
    assert run.daemon.gate.opens == 1
    del other
    # A fresh code of the same person is fine.
    assert (await run.decide(run.issuer.mint("green"))).verdict.accepted


@asynctest
async def test_denied_code_is_not_remembered_for_passback(tmp_path: Path) -> None:
    r = await start(tmp_path, policy="accept_yellow = false")
    try:
        code = r.issuer.mint("yellow")
        assert (await r.decide(code)).verdict.reason.value == "status_yellow"
        assert (await r.decide(code)).verdict.reason.value == "status_yellow"  # not replayed
    finally:
        await r.daemon.stop()


@asynctest
async def test_yellow_accepted_when_the_site_says_so(tmp_path: Path) -> None:
    r = await start(tmp_path, policy="accept_yellow = true")
    try:
        out = await r.decide(r.issuer.mint("yellow"))
        assert out.verdict.accepted and out.verdict.status == "yellow"
        assert r.pin(RELAY).state
    finally:
        await r.daemon.stop()


@asynctest
async def test_profile_not_accepted(tmp_path: Path) -> None:
    r = await start(tmp_path, policy='accepted_profiles = ["eu-dcc"]')
    try:
        out = await r.decide(r.issuer.mint("green"))
        assert out.verdict.reason.value == "profile_not_accepted"
        assert not r.pin(RELAY).state and r.pin(RED).state
    finally:
        await r.daemon.stop()


@pytest.mark.parametrize(("policy", "accepted"), [("accept", True), ("deny", False)])
@asynctest
async def test_stale_trust_list_policy(tmp_path: Path, policy: str, accepted: bool) -> None:
    r = await start(tmp_path, stale=True, policy=f'stale_trust_list = "{policy}"')
    try:
        out = await r.decide(r.issuer.mint("green"))
        assert out.verdict.accepted is accepted
        if not accepted:
            assert out.verdict.reason.value == "stale_trust_list"
        st = r.daemon.board.status()
        assert st["trust"]["stale"] is True
        ok, health = r.daemon.board.health()
        assert "trust_list_stale" in health["warnings"]
        assert ok is accepted  # a site that denies everyone is unhealthy
    finally:
        await r.daemon.stop()


@with_run
async def test_every_decision_is_journaled_before_the_log_line(run: Run) -> None:
    codes = [run.issuer.mint(s) for s in ("green", "red", "yellow")]
    outs = [await run.decide(c) for c in codes]
    db = sqlite3.connect(run.daemon.config.journal.path)
    try:
        rows = db.execute("SELECT record_id, decision, reason FROM records ORDER BY seq").fetchall()
    finally:
        db.close()
    assert [(r[1], r[2]) for r in rows] == [
        (o.verdict.decision.value, o.verdict.reason.value) for o in outs]
    decision_lines = [json.loads(x) for x in run.lines if '"event":"decision"' in x]
    assert [x["record_id"] for x in decision_lines] == [r[0] for r in rows]


@with_run
async def test_log_lines_carry_no_personal_data(run: Run) -> None:
    out = await run.decide(run.issuer.mint("green", subject_ref=b"\x01" * 16))
    line = next(x for x in run.lines if '"event":"decision"' in x)
    doc = json.loads(line)
    assert set(doc) >= {"decision", "reason", "ms", "record_id", "code"}
    assert doc["code"] == code_hash(out.verdict.code_id) and len(doc["code"]) == 12
    assert out.verdict.code_id not in line
    assert out.verdict.subject_ref is not None and out.verdict.subject_ref not in line
    assert "subject" not in line


@asynctest
async def test_stop_leaves_outputs_safe_mid_pulse(tmp_path: Path) -> None:
    r = await start(tmp_path, gate="pulse_ms = 5000\nled_ms = 5000")
    await r.decide(r.issuer.mint("green"))
    assert r.pin(RELAY).state and r.pin(GREEN).state
    await r.daemon.stop()
    assert not r.pin(RELAY).state and not r.pin(GREEN).state and not r.pin(RED).state
    stopped = json.loads(r.lines[-1])
    assert stopped["event"] == "stopped" and stopped["gate"]["relay_open"] is False


@asynctest
async def test_hold_until_passage_through_the_daemon(tmp_path: Path) -> None:
    r = await start(tmp_path, gate='relay_mode = "hold"\npassage_pin = 24\n'
                    'passage_timeout_s = 5.0')
    try:
        await r.decide(r.issuer.mint("green"))
        await asyncio.sleep(0.4)
        assert r.pin(RELAY).state  # still held: nobody passed yet
        r.pin(PASSAGE).drive_low()
        await wait_until(lambda: not r.pin(RELAY).state)
        assert r.daemon.gate.passages == 1
    finally:
        await r.daemon.stop()


@with_run
async def test_trust_list_swap_without_restart(run: Run) -> None:
    keys = run.keys
    other = keys.issuer()  # same key; now revoke a code id through a new list version
    out = await run.decide(other.mint("green", code_id=b"\x42" * 16))
    assert out.verdict.accepted
    data = keys.write_trust_list(2, revoked=[out.verdict.code_id])
    trust = run.daemon.trust_store.install(data)
    run.daemon._on_trust_list(trust)
    out2 = await run.decide(other.mint("green", code_id=b"\x42" * 16))
    assert out2.verdict.reason.value == "revoked"
    assert run.daemon.board.status()["trust"]["version"] == 2


@asynctest
async def test_screen_port_in_use_stops_startup_with_a_clear_message(tmp_path: Path) -> None:
    import socket

    from device.errors import ScangateError

    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        path, _ = make_site(tmp_path)
        text = path.read_text().replace("port = 0", f"port = {busy.getsockname()[1]}")
        path.write_text(text)
        factory = MockFactory()
        src = FedSource()
        d = Daemon(load(path), pin_factory=factory, sources=[src], write_log=lambda _: None)
        with pytest.raises(ScangateError, match=r"staff screen cannot listen.*screen\.port"):
            await d.start()
        assert factory.pin(RELAY).state is False  # outputs were set safe and released
        # the scan path had started before the screen: its tasks and sources are closed
        assert src.closed and not d._tasks and d.journal is None
    finally:
        busy.close()


def test_run_refuses_a_bad_config(tmp_path: Path) -> None:
    import subprocess
    import sys

    path, _ = make_site(tmp_path, policy='stale_trust_list = "sometimes"')
    out = subprocess.run([str(Path(sys.executable).with_name("scangate")), "run", "--config",
                          str(path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "policy.stale_trust_list = 'sometimes'" in out.stderr and "accept, deny" in out.stderr
