"""Gate outputs on gpiozero's MockFactory: relay pulse/hold, LEDs, beeps, safe state."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator

import pytest
from gpiozero.pins.mock import MockFactory

from device.errors import BackendError, GateError
from device.gate import Gate, GateConfig, make_pin_factory

RELAY, GREEN, RED, BUZZ, PASSAGE = 17, 27, 22, 23, 24


def wait_for(cond: Callable[[], bool], timeout: float = 3.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return cond()


@pytest.fixture
def factory() -> Iterator[MockFactory]:
    f = MockFactory()
    yield f
    f.reset()


def states(f: MockFactory, pin: int) -> list[bool]:
    return [s.state for s in f.pin(pin).states]


def high_durations(f: MockFactory, pin: int) -> list[float]:
    """Seconds each high period lasted (from MockPin.states' relative timestamps)."""
    out = []
    st = f.pin(pin).states
    for prev, cur in itertools.pairwise(st):
        if prev.state and not cur.state:
            out.append(cur.timestamp)
    return out


def test_accept_pulses_relay_green_led_one_beep(factory: MockFactory) -> None:
    gate = Gate(GateConfig(pulse_ms=150, led_ms=250, beep_ms=30, beep_gap_ms=30),
                pin_factory=factory)
    gate.accept()
    assert factory.pin(RELAY).state  # high at once, not from a thread later
    assert factory.pin(GREEN).state and not factory.pin(RED).state
    assert wait_for(lambda: states(factory, RELAY) == [False, True, False])
    assert wait_for(lambda: states(factory, GREEN) == [False, True, False])
    assert wait_for(lambda: states(factory, BUZZ) == [False, True, False])
    (pulse,) = high_durations(factory, RELAY)
    assert 0.15 <= pulse < 1.5
    (lit,) = high_durations(factory, GREEN)
    assert lit >= 0.25
    factory.pin(RED).assert_states([False])
    gate.close()


def test_deny_red_led_three_beeps_relay_untouched(factory: MockFactory) -> None:
    gate = Gate(GateConfig(led_ms=200, beep_ms=20, beep_gap_ms=20), pin_factory=factory)
    gate.deny()
    assert factory.pin(RED).state and not factory.pin(GREEN).state
    assert wait_for(lambda: states(factory, BUZZ) == [False, True, False] * 1 + [True, False] * 2)
    assert wait_for(lambda: not factory.pin(RED).state)
    assert states(factory, RELAY) == [False]
    assert gate.opens == 0
    gate.close()


def test_active_low_outputs(factory: MockFactory) -> None:
    gate = Gate(GateConfig(relay_active_high=False, active_high=False, pulse_ms=100),
                pin_factory=factory)
    # Safe = inactive = electrically HIGH for active-low outputs.
    assert factory.pin(RELAY).state and factory.pin(GREEN).state
    gate.accept()
    assert not factory.pin(RELAY).state and not factory.pin(GREEN).state
    assert wait_for(lambda: factory.pin(RELAY).state)
    gate.close()


def test_hold_until_passage(factory: MockFactory) -> None:
    cfg = GateConfig(relay_mode="hold", passage_pin=PASSAGE, passage_pull="up",
                     passage_timeout_s=5.0, led_ms=100)
    gate = Gate(cfg, pin_factory=factory)
    gate.accept()
    time.sleep(0.3)
    assert factory.pin(RELAY).state  # held: longer than any pulse would matter
    factory.pin(PASSAGE).drive_low()  # the beam is broken (active low with pull-up)
    assert wait_for(lambda: not factory.pin(RELAY).state)
    assert gate.passages == 1 and gate.passage_timeouts == 0
    factory.pin(PASSAGE).drive_high()
    gate.close()


def test_hold_times_out_without_passage(factory: MockFactory) -> None:
    cfg = GateConfig(relay_mode="hold", passage_pin=PASSAGE, passage_timeout_s=0.6)
    gate = Gate(cfg, pin_factory=factory)
    t0 = time.monotonic()
    gate.accept()
    assert wait_for(lambda: not factory.pin(RELAY).state)
    assert time.monotonic() - t0 >= 0.55
    assert gate.passage_timeouts == 1 and gate.passages == 0
    gate.close()


def test_second_accept_extends_the_pulse(factory: MockFactory) -> None:
    gate = Gate(GateConfig(pulse_ms=300), pin_factory=factory)
    t_first = time.monotonic()
    gate.accept()
    time.sleep(0.2)
    t_second = time.monotonic()
    gate.accept()  # re-arms: the gate stays open pulse_ms after the SECOND accept
    assert wait_for(lambda: not factory.pin(RELAY).state)
    assert states(factory, RELAY) == [False, True, False]  # one opening, not two
    (held,) = high_durations(factory, RELAY)
    assert held >= (t_second - t_first) + 0.3 - 0.02
    assert gate.opens == 2
    gate.close()


def test_safe_state_at_start_after_a_crash(factory: MockFactory) -> None:
    # A crashed daemon left the relay driven open and the green LED lit.
    for pin in (RELAY, GREEN):
        p = factory.pin(pin)
        p.function = "output"
        p.state = True
    gate = Gate(GateConfig(), pin_factory=factory)
    assert not factory.pin(RELAY).state and not factory.pin(GREEN).state
    assert gate.status()["relay_open"] is False
    gate.close()


def test_close_leaves_outputs_safe_and_cancels_timers(factory: MockFactory) -> None:
    gate = Gate(GateConfig(pulse_ms=5000, led_ms=5000), pin_factory=factory)
    gate.accept()
    assert factory.pin(RELAY).state
    gate.close()
    assert states(factory, RELAY)[-1] is False
    assert states(factory, GREEN)[-1] is False
    assert not factory.pin(BUZZ).state
    gate.accept()  # after close: ignored, not an error
    gate.close()  # idempotent


def test_actuation_does_not_block() -> None:
    f = MockFactory()
    gate = Gate(GateConfig(pulse_ms=2000, led_ms=2000), pin_factory=f)
    t0 = time.perf_counter()
    for _ in range(20):
        gate.accept()
        gate.deny()
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0  # 40 actuations with 2 s pulses: nothing waited for a pulse
    gate.close()


def test_pin_factory_by_name() -> None:
    assert type(make_pin_factory("mock")).__name__ == "MockFactory"
    with pytest.raises(BackendError, match=r"unknown pin factory 'gpio9'.*lgpio, mock, rpigpio"):
        make_pin_factory("gpio9")


def test_unavailable_factory_says_what_to_do() -> None:
    # No GPIO chip in this container: lgpio (or its import) fails with a clear message.
    with pytest.raises(BackendError, match=r"pin factory 'lgpio' cannot load here.*mock"):
        make_pin_factory("lgpio")


def test_bad_pin_is_a_gate_error(factory: MockFactory) -> None:
    with pytest.raises(GateError, match="gate outputs could not be set up"):
        Gate(GateConfig(relay_pin="GPIO99"), pin_factory=factory)
