"""Self-test, gate outputs: relay, green LED, red LED and buzzer pulsed in turn, recorded on
gpiozero's MockFactory; left alone while the daemon runs unless --force."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from provisioning.selftest.daemon import RunningDaemon
from provisioning.selftest.result import Status
from tests.provisioning.selftest_support import (
    by_name,
    recording_factory,
    run,
    write_config,
    write_trust,
)

OTHERS = frozenset({"camera", "readers", "clock", "disk", "journal", "trust", "centre"})


def _config(tmp: Path, **gate: Any) -> Path:
    return write_config(tmp, sources=[{"type": "serial", "port": str(tmp / "none")}],
                        trust=write_trust(tmp / "trust"), gate=gate)


def test_outputs_go_high_then_low_one_after_the_other(tmp_path: Path) -> None:
    factory = recording_factory()
    line = by_name(run(_config(tmp_path), pin_factory=factory, skip=OTHERS))["gate outputs"]
    assert line.status is Status.PASS, line
    # relay 17, green 27, red 22, buzzer 23 (the defaults): each high then low, in turn
    assert factory.log == [("GPIO17", True), ("GPIO17", False), ("GPIO27", True),
                           ("GPIO27", False), ("GPIO22", True), ("GPIO22", False),
                           ("GPIO23", True), ("GPIO23", False)]
    assert "relay pin 17 high→low" in line.detail and "buzzer pin 23" in line.detail
    # and every output is left in its safe state, pins released
    assert all(not pin.state for pin in factory.pins.values())


def test_active_low_relay_is_pulsed_low(tmp_path: Path) -> None:
    factory = recording_factory()
    cfg = _config(tmp_path, relay_active_high=False, buzzer_pin="none")
    line = by_name(run(cfg, pin_factory=factory, skip=OTHERS))["gate outputs"]
    assert line.status is Status.PASS, line
    relay = [level for name, level in factory.log if name == "GPIO17"]
    # built inactive (high), pulsed: low then high again
    assert relay[-2:] == [False, True]
    assert not any(name == "GPIO23" for name, _ in factory.log)
    assert "no buzzer configured" in line.detail


def test_not_pulsed_while_the_daemon_runs_unless_forced(tmp_path: Path) -> None:
    daemon = RunningDaemon(via="staff screen http://127.0.0.1:1/", status={"sources": []})
    factory = recording_factory()
    line = by_name(run(_config(tmp_path), pin_factory=factory, daemon=daemon,
                       skip=OTHERS))["gate outputs"]
    assert line.status is Status.SKIP
    assert "running daemon" in line.detail and "--force" in line.remedy
    assert factory.log == [] and factory.pins == {}  # not a single pin touched
    line = by_name(run(_config(tmp_path), pin_factory=factory, daemon=daemon, force=True,
                       skip=OTHERS))["gate outputs"]
    assert line.status is Status.PASS
    assert len(factory.log) == 8


def test_pins_that_cannot_be_set_up_fail_with_a_remedy(tmp_path: Path) -> None:
    cfg = _config(tmp_path, relay_pin="NOSUCHPIN")
    line = by_name(run(cfg, pin_factory=recording_factory(), skip=OTHERS))["gate outputs"]
    assert line.status is Status.FAIL
    assert "gate.*_pin" in line.remedy
