"""Gate outputs pulsed in turn: relay, green LED, red LED, buzzer.

Each output is switched on for ``pulse_ms``, read back, switched off, read back. On
gpiozero's ``MockFactory`` (simulated hardware) the pins record every change, and the
check verifies from that record that each pin went high then low. On real pins the
technician watches and listens. While the daemon runs the gate is its: not pulsed
(SKIP) unless ``--force`` (real GPIO lines held by the daemon then refuse anyway).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from device.errors import ScangateError
from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, fail, passed, skip

NAME = "gate outputs"


def _outputs(gate: Any) -> list[tuple[str, Any, Any]]:
    c = gate.config
    out = [("relay", gate.relay, c.relay_pin), ("green LED", gate.green, c.green_led_pin),
           ("red LED", gate.red, c.red_led_pin)]
    if gate.buzzer is not None:
        out.append(("buzzer", gate.buzzer, c.buzzer_pin))
    return out


def _recorded(dev: Any) -> list[bool] | None:
    """The pin's recorded physical levels since the pulse began (MockPin only)."""
    states = getattr(dev.pin, "states", None)
    if states is None:
        return None
    return [bool(s.state) for s in states]


def check_gate(ctx: Context) -> Iterator[CheckResult]:
    opts = ctx.options
    daemon = ctx.daemon
    if daemon is not None and not opts.force:
        yield skip(NAME, f"not pulsed: the running daemon ({daemon.via}) drives the gate",
                   "Stop the daemon (sudo systemctl stop scangate) and re-run, or add --force "
                   "to pulse while it runs (the gate opens: keep the passage clear).")
        return
    from device.gate import Gate

    cfg = ctx.config.gate
    ctx.prompt("Pulsing the relay, green LED, red LED and buzzer in turn: keep the passage "
               "clear, watch and listen.")
    try:
        gate = Gate(cfg, pin_factory=ctx.pin_factory)
    except ScangateError as exc:
        busy = "busy" in str(exc).lower()
        yield fail(NAME, f"outputs cannot be set up ({cfg.pin_factory} pins): {exc}",
                   ("Stop the daemon or the other program holding these GPIO lines "
                    "(sudo systemctl stop scangate), then re-run the self-test."
                    if busy else
                    "Check the gate.*_pin numbers and gate.pin_factory in the configuration "
                    "(gate.pin_factory = \"lgpio\" on a Raspberry Pi 5), then re-run."))
        return
    pulse_s = opts.pulse_ms / 1000
    problems: list[str] = []
    shown: list[str] = []
    try:
        for label, dev, pin in _outputs(gate):
            if hasattr(dev.pin, "clear_states"):
                dev.pin.clear_states()
            dev.on()
            on_ok = bool(dev.is_active)
            time.sleep(pulse_s)
            dev.off()
            off_ok = not dev.is_active
            time.sleep(pulse_s)
            if not (on_ok and off_ok):
                problems.append(f"{label} (pin {pin}) read back "
                                f"{'on' if on_ok else 'off'}/{'off' if off_ok else 'on'}")
            levels = _recorded(dev)
            if levels is not None:
                active = dev.active_high
                want = [not active, active, not active]
                if levels != want:
                    problems.append(f"{label} (pin {pin}) recorded {levels}, expected {want}")
                shown.append(f"{label} pin {pin} " + ("high→low" if active else "low→high"))
            else:
                shown.append(f"{label} pin {pin}")
    except Exception as exc:
        problems.append(f"driving the outputs failed: {type(exc).__name__}: {exc}")
    finally:
        gate.close()
    if problems:
        yield fail(NAME, "; ".join(problems),
                   "Check the gate.*_pin numbers and the wiring of the outputs named, then "
                   "re-run the self-test.")
        return
    if cfg.buzzer_pin is None:
        shown.append("no buzzer configured")
    if cfg.pin_factory == "mock":
        yield passed(NAME, f"pulsed {opts.pulse_ms} ms each on simulated pins, recorded in "
                     f"order: {', '.join(shown)}")
    else:
        yield passed(NAME, f"pulsed {opts.pulse_ms} ms each: {', '.join(shown)}",
                     "If one of them did not click, light or beep, check its wiring and its "
                     "gate.*_pin number, then re-run the self-test.")
