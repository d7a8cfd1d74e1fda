"""Reader checks: each serial reader's port opens (and, with ``--scan-serial``, a code
scanned within a timeout), each keyboard-wedge reader's event device is readable.

The port is opened exactly as the daemon opens it (pyserial, ``exclusive=True``: a
``flock``), so a port the running daemon holds cannot be opened twice: that line then
says "in use by the running daemon" instead of failing, and while the daemon's staff
screen answers its own view of the reader is reported without touching the port.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator

from device.sources.config import KeyboardSourceConfig, SerialSourceConfig
from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, fail, passed, skip, warn
from provisioning.selftest.testcard import is_test_card

PLUG_IN = ("Plug in the reader's cable, check the device name (ls /dev/serial/by-id/) and "
           "set {key}.port to it, then re-run the self-test.")
AS_SERVICE_USER = ("Run the self-test as the service user (sudo -u scangate scangate selftest "
                   "--config FILE) or add this user to the '{group}' group.")


def check_readers(ctx: Context) -> Iterator[CheckResult]:
    serials = [(i, s.config) for i, s in enumerate(ctx.config.sources) if s.kind == "serial"]
    keyboards = [(i, s.config) for i, s in enumerate(ctx.config.sources)
                 if s.kind == "keyboard"]
    if not serials:
        yield skip("serial reader", "no serial reader configured",
                   "Nothing to do; if this gate has a serial reader, add a [[sources]] table "
                   "with type = \"serial\" to the configuration.")
    for i, cfg in serials:
        name = "serial reader" + (f" [{cfg.source_name}]" if len(serials) > 1 else "")
        yield _serial(ctx, i, cfg, name)
    for i, kcfg in keyboards:
        name = "keyboard reader" + (f" [{kcfg.source_name}]" if len(keyboards) > 1 else "")
        yield _keyboard(ctx, i, kcfg, name)


def _settings(cfg: SerialSourceConfig) -> str:
    return f"{cfg.baud} {cfg.bytesize}{cfg.parity}{cfg.stopbits:g}, suffix {cfg.suffix}"


def _serial(ctx: Context, index: int, cfg: SerialSourceConfig, name: str) -> CheckResult:
    key = f"sources[{index}]"
    daemon = ctx.daemon
    if daemon is not None:
        st = daemon.source(cfg.source_name)
        if st is not None:
            if st.get("connected"):
                return passed(name, f"{cfg.port}: in use by the running daemon, which reports "
                              f"it connected ({_settings(cfg)})",
                              "Nothing to do; stop the daemon (sudo systemctl stop scangate) "
                              "to also test a scan with --scan-serial.")
            return fail(name, f"{cfg.port}: the running daemon reports the reader "
                        f"disconnected (reopened {st.get('reopens', '?')} times)",
                        PLUG_IN.format(key=key))
    if not os.path.exists(cfg.port):
        return fail(name, f"{cfg.port} does not exist (reader unplugged, or another name)",
                    PLUG_IN.format(key=key))
    import serial

    from device.sources.serial_framing import Framer

    try:
        # pyserial's PARITY_* constants are these letters: "N", "E", "O", "M", "S".
        port = serial.Serial(port=cfg.port, baudrate=cfg.baud, parity=cfg.parity,
                             bytesize=cfg.bytesize, stopbits=cfg.stopbits, timeout=0.05,
                             xonxoff=False, rtscts=False, dsrdtr=False, exclusive=True)
    except (serial.SerialException, OSError) as exc:
        text = str(exc)
        code = getattr(exc, "errno", None)
        if "exclusively lock" in text or code in (errno.EAGAIN, errno.EBUSY):
            who = (f"the running daemon ({daemon.via})" if daemon is not None
                   else "another program (probably the running daemon)")
            return warn(name, f"{cfg.port}: in use by {who}; not opened",
                        "Nothing to do if the daemon runs; to test the reader itself stop it "
                        "(sudo systemctl stop scangate) and re-run the self-test.")
        if code == errno.EACCES or "Permission denied" in text:
            return fail(name, f"{cfg.port}: permission denied",
                        AS_SERVICE_USER.format(group="dialout"))
        return fail(name, f"{cfg.port} cannot be opened: {text}", PLUG_IN.format(key=key))
    try:
        opened = f"{cfg.port} opened ({_settings(cfg)})"
        if not ctx.options.scan_serial:
            return passed(name, opened + "; no scan asked (--scan-serial)",
                          "Nothing to do; add --scan-serial to also scan the test card.")
        port.reset_input_buffer()
        framer = Framer(terminator=cfg.terminator, idle_timeout_s=cfg.idle_timeout_s,
                        max_length=cfg.max_length, min_length=cfg.min_length)
        timeout = ctx.options.serial_timeout_s
        ctx.prompt(f"Scan the test card with the reader on {cfg.port} now "
                   f"(waiting up to {timeout:g} s).")
        end = time.monotonic() + timeout
        got = 0
        while time.monotonic() < end:
            data = port.read(max(1, min(port.in_waiting, 4096)))
            now = time.monotonic()
            got += len(data)
            frames = framer.feed(data, now) if data else framer.tick(now)
            if frames:
                what = ("the test card" if any(is_test_card(f) for f in frames)
                        else "a code (not the test card; its content is not shown)")
                return passed(name, f"{opened}; read {what}")
            if not os.path.exists(cfg.port):
                return fail(name, f"{cfg.port} disappeared while waiting for a scan",
                            PLUG_IN.format(key=key))
        if got:
            return fail(name, f"{opened}; {got} bytes arrived in {timeout:g} s but no "
                        f"complete code (dropped: {dict(framer.drops) or 'none'})",
                        f"Set the reader to end each code with the suffix {key}.suffix "
                        f"expects ({cfg.suffix}), or change {key}.suffix/baud to match the "
                        "reader, then re-run with --scan-serial.")
        return fail(name, f"{opened}; nothing read in {timeout:g} s",
                    "Scan the test card closer and steadier; if the reader beeps but nothing "
                    f"arrives, set it to USB serial (CDC) mode and check {key}.baud, then "
                    "re-run with --scan-serial.")
    except (serial.SerialException, OSError) as exc:
        return fail(name, f"{cfg.port} failed while reading: {exc}", PLUG_IN.format(key=key))
    finally:
        port.close()


def _keyboard(ctx: Context, index: int, cfg: KeyboardSourceConfig, name: str) -> CheckResult:
    key = f"sources[{index}]"
    daemon = ctx.daemon
    st = daemon.source(cfg.source_name) if daemon is not None else None
    if st is not None:
        if st.get("connected"):
            return passed(name, f"{cfg.device}: in use by the running daemon, which reports "
                          "it connected")
        return fail(name, f"{cfg.device}: the running daemon reports the reader disconnected",
                    f"Plug in the reader's USB cable and check {key}.device "
                    "(ls /dev/input/by-id/), then re-run the self-test.")
    if not os.path.exists(cfg.device):
        return fail(name, f"{cfg.device} does not exist (reader unplugged, or another name)",
                    f"Plug in the reader's USB cable and set {key}.device to its "
                    "/dev/input/by-id/...-event-kbd link, then re-run the self-test.")
    if not os.access(cfg.device, os.R_OK):
        return fail(name, f"{cfg.device}: not readable by this user",
                    AS_SERVICE_USER.format(group="input"))
    return passed(name, f"{cfg.device} present and readable")
