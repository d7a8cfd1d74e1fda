"""The gate's outputs through gpiozero: relay, green/red LEDs, buzzer, passage sensor.

Actuation never blocks the caller: ``on()``/``off()`` are a register write, and every
"later" (the end of a relay pulse, the LED going dark, the beeps) runs on a timer
thread or a gpiozero background thread, so the relay closes on time even if the
event loop that asked for it were stalled.

Safe state = relay inactive (gate closed), LEDs and buzzer off. Devices are built
with ``initial_value=False``, so constructing a ``Gate`` after a crash drives every
output to its safe state first; ``close()`` leaves them safe again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.errors import GateError
from device.gate.factory import make_pin_factory

log = logging.getLogger(__name__)

RELAY_MODES = ("pulse", "hold")
PULLS = ("up", "down", "floating")


@dataclass(frozen=True, kw_only=True)
class GateConfig:
    """Pins are BCM numbers (or gpiozero pin names such as ``"GPIO17"``)."""

    pin_factory: str = "mock"  # lgpio | rpigpio | mock
    relay_pin: int | str = 17
    green_led_pin: int | str = 27
    red_led_pin: int | str = 22
    buzzer_pin: int | str | None = 23
    active_high: bool = True  # LEDs and buzzer
    relay_active_high: bool = True  # many relay boards are active-low: set False
    relay_mode: str = "pulse"  # "pulse": open pulse_ms; "hold": until passage or timeout
    pulse_ms: int = 1500
    passage_pin: int | str | None = None  # required for relay_mode = "hold"
    passage_pull: str = "up"  # up (sensor pulls low when active) | down | floating
    passage_active_high: bool = False  # must match the pull: up -> False, down -> True
    passage_timeout_s: float = 8.0
    led_ms: int = 2000  # how long the green/red LED stays lit
    beep_ms: int = 80
    beep_gap_ms: int = 80


class _Later:
    """One cancellable deferred call on a daemon timer thread (re-arming cancels)."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._timer: threading.Timer | None = None

    def arm(self, delay_s: float, func: Callable[[], None]) -> None:
        self.cancel()
        timer = threading.Timer(delay_s, func)
        timer.daemon = True
        timer.name = f"gate-{self._name}"
        self._timer = timer
        timer.start()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


class Gate:
    """Drives the gate for a decision: ``accept()``, ``deny()``; ``safe()``; ``close()``.

    ``pin_factory`` injects a gpiozero factory (tests pass a ``MockFactory`` and read
    ``MockPin.states``); by default it is made from ``config.pin_factory`` by name.
    """

    def __init__(self, config: GateConfig, *, pin_factory: Any = None) -> None:
        from gpiozero import LED, Buzzer, DigitalInputDevice, DigitalOutputDevice

        self.config = config
        self.factory = pin_factory if pin_factory is not None else make_pin_factory(
            config.pin_factory
        )
        self._lock = threading.RLock()
        self._relay_later = _Later("relay")
        self._led_later = _Later("led")
        self._closed = False
        self.opens = 0
        self.passages = 0
        self.passage_timeouts = 0
        self._devices: list[Any] = []
        f = self.factory
        try:
            self.relay = self._add(
                DigitalOutputDevice(
                    config.relay_pin,
                    active_high=config.relay_active_high,
                    initial_value=False,
                    pin_factory=f,
                )
            )
            self.green = self._add(
                LED(config.green_led_pin, active_high=config.active_high,
                    initial_value=False, pin_factory=f)
            )
            self.red = self._add(
                LED(config.red_led_pin, active_high=config.active_high,
                    initial_value=False, pin_factory=f)
            )
            self.buzzer = (
                self._add(
                    Buzzer(config.buzzer_pin, active_high=config.active_high,
                           initial_value=False, pin_factory=f)
                )
                if config.buzzer_pin is not None
                else None
            )
            self.passage = None
            if config.relay_mode == "hold" and config.passage_pin is not None:
                pull_up = {"up": True, "down": False, "floating": None}[config.passage_pull]
                self.passage = self._add(
                    DigitalInputDevice(
                        config.passage_pin,
                        pull_up=pull_up,
                        active_state=config.passage_active_high if pull_up is None else None,
                        pin_factory=f,
                    )
                )
                self.passage.when_activated = self._on_passage
        except Exception as exc:
            self.close()
            raise GateError(
                f"gate outputs could not be set up ({type(exc).__name__}: {exc}); "
                "check the gate.* pin numbers in the configuration and that no other "
                "program holds these GPIO lines"
            ) from exc
        log.info("gate: outputs in safe state (relay closed, LEDs off)")

    def _add(self, device: Any) -> Any:
        self._devices.append(device)
        return device

    # -- decisions -------------------------------------------------------------

    def accept(self) -> None:
        """Open the gate (pulse, or hold until passage/timeout), green LED, one beep."""
        c = self.config
        with self._lock:
            if self._closed:
                return
            self.relay.on()
            self.opens += 1
            if c.relay_mode == "hold" and self.passage is not None:
                self._relay_later.arm(c.passage_timeout_s, self._passage_timeout)
            else:
                self._relay_later.arm(c.pulse_ms / 1000, self._relay_off)
            self._show(self.green, self.red)
            self._beep(1)

    def deny(self) -> None:
        """Red LED and three beeps. The relay is left as it is (someone may be passing)."""
        with self._lock:
            if self._closed:
                return
            self._show(self.red, self.green)
            self._beep(3)

    def _show(self, led: Any, other: Any) -> None:
        other.off()
        led.on()
        self._led_later.arm(self.config.led_ms / 1000, self._leds_off)

    def _beep(self, n: int) -> None:
        if self.buzzer is None:
            return
        c = self.config
        self.buzzer.blink(on_time=c.beep_ms / 1000, off_time=c.beep_gap_ms / 1000,
                          n=n, background=True)

    # -- timers and sensor callbacks (other threads) ----------------------------

    def _relay_off(self) -> None:
        with self._lock:
            if not self._closed:
                self.relay.off()

    def _passage_timeout(self) -> None:
        with self._lock:
            if not self._closed and self.relay.is_active:
                self.relay.off()
                self.passage_timeouts += 1
                log.info("gate: no passage within %.1f s; gate closed",
                         self.config.passage_timeout_s)

    def _on_passage(self) -> None:
        with self._lock:
            if not self._closed and self.relay.is_active:
                self._relay_later.cancel()
                self.relay.off()
                self.passages += 1

    def _leds_off(self) -> None:
        with self._lock:
            if not self._closed:
                self.green.off()
                self.red.off()

    # -- safe state ------------------------------------------------------------

    def safe(self) -> None:
        """Relay closed, LEDs and buzzer off, pending timers cancelled."""
        with self._lock:
            self._relay_later.cancel()
            self._led_later.cancel()
            for dev in (getattr(self, "relay", None), getattr(self, "green", None),
                        getattr(self, "red", None), getattr(self, "buzzer", None)):
                if dev is not None and not dev.closed:
                    dev.off()

    def close(self) -> None:
        """Leave the outputs safe, then release the pins. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self.safe()
            self._closed = True
            for dev in reversed(self._devices):
                try:
                    dev.close()
                except Exception as exc:  # pragma: no cover - a driver quirk on close
                    log.warning("gate: closing %r failed: %s", dev, exc)
            self._devices.clear()
        log.info("gate: outputs safe, pins released")

    def status(self) -> dict[str, Any]:
        """Pin states (as driven) and counters, for the status panel and /metrics."""
        def active(dev: Any) -> bool | None:
            return None if dev is None or dev.closed else bool(dev.is_active)

        return {
            "pin_factory": self.config.pin_factory,
            "relay_mode": self.config.relay_mode,
            "relay_open": active(self.relay),
            "green": active(self.green),
            "red": active(self.red),
            "buzzer": active(self.buzzer),
            "opens": self.opens,
            "passages": self.passages,
            "passage_timeouts": self.passage_timeouts,
        }
