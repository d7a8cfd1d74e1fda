"""``scangate selftest --config FILE [--json]``: registered through the
``scangate.commands`` entry point (device/ never imports provisioning/).

Exit status: 0 when no line is FAIL, 1 when one is, 2 for bad command-line input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from provisioning.errors import ProvisioningError
from provisioning.selftest.options import GROUPS, Options
from provisioning.selftest.result import CheckResult, fail, passed, warn

if TYPE_CHECKING:
    from device.config import DaemonConfig

EXIT_FAIL = 1
EXIT_USAGE = 2


def _positive(kind: type[float] | type[int]) -> Callable[[str], float | int]:
    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} must be greater than 0")
        return value

    parse.__name__ = kind.__name__
    return parse


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "selftest",
        help="check a terminal on site: camera, readers, gate outputs, clock, disk, journal, "
        "trust list, centre (for technicians)",
        description="Check a terminal on site, line by line as each check finishes: camera "
        "(frames/s, the test card decoded), serial and keyboard readers, relay/LEDs/buzzer "
        "pulsed in turn, clock quality, disk space, journal integrity, trust-list age, "
        "centre reachable + mutual-TLS handshake + certificate days left. Every line says "
        "PASS, WARN, FAIL or SKIP and what to do. Exit 1 if any line is FAIL. While the "
        "daemon runs, the camera and readers are reported as it sees them and the gate is "
        "not pulsed (docs/selftest.md).",
    )
    p.add_argument("--config", metavar="FILE", help="the terminal's TOML configuration")
    p.add_argument("--json", action="store_true",
                   help='print {"checks": [{"name", "status", "detail", "remedy"}]} instead '
                   "of the table (progress goes to stderr)")
    p.add_argument("--scan-serial", action="store_true",
                   help="also wait for the test card scanned with each serial reader")
    p.add_argument("--force", action="store_true",
                   help="pulse the gate outputs even while the daemon runs (the gate opens)")
    p.add_argument("--skip", action="append", default=[], choices=GROUPS, metavar="GROUP",
                   help=f"leave out a group of checks (repeatable): {', '.join(GROUPS)}")
    p.add_argument("--pulse-ms", type=_positive(int), default=400, metavar="MS",
                   help="how long each gate output is on (default 400)")
    p.add_argument("--camera-measure", type=_positive(float), default=2.0, metavar="S",
                   help="seconds to count camera frames for the frame rate (default 2)")
    p.add_argument("--camera-timeout", type=_positive(float), default=10.0, metavar="S",
                   help="seconds to wait for a QR code in front of the camera (default 10)")
    p.add_argument("--serial-timeout", type=_positive(float), default=20.0, metavar="S",
                   help="seconds to wait for a scan with --scan-serial (default 20)")
    p.add_argument("--cert-warn-days", type=_positive(float), default=14.0, metavar="DAYS",
                   help="WARN when a certificate expires within DAYS (default 14)")
    p.add_argument("--test-card", metavar="PNG",
                   help="write the test card (a QR code to print or show on a phone) to PNG "
                   "and exit")
    p.set_defaults(func=run_cli)


def _config_row(path: str) -> tuple[CheckResult, DaemonConfig | None, list[CheckResult]]:
    from device.config import load_config, secret_warnings
    from device.errors import ConfigError

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        return fail("config", str(exc), f"Fix the key named above in {path} (scangate config "
                    f"check {path} tells when it is right), then re-run the self-test."), \
            None, []
    kinds = [s.kind for s in cfg.sources]
    sources = ", ".join(f"{kinds.count(k)} {k}" for k in dict.fromkeys(kinds))
    uplink = cfg.uplink.base_url if cfg.uplink is not None else "off"
    row = passed("config", f"{path}: terminal {cfg.terminal_id}; sources: {sources}; gate on "
                 f"{cfg.gate.pin_factory} pins; uplink {uplink}")
    extra = [warn("config secrets", w.split("; run:")[0],
                  f"Run sudo chmod 600 {path} so only the service user reads it.")
             for w in secret_warnings(path, cfg)]
    return row, cfg, extra


def run_cli(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except ProvisioningError as exc:
        print(f"scangate selftest: error: {exc}", file=sys.stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace) -> int:
    from provisioning.selftest import report
    from provisioning.selftest.context import Context
    from provisioning.selftest.runner import failed, iter_checks

    if args.test_card:
        from provisioning.selftest.testcard import write_test_card

        path = write_test_card(Path(args.test_card))
        print(f"wrote the test card to {path}: print it (5 cm or larger) or show it on a phone")
        return 0
    if not args.config:
        raise ProvisioningError("--config FILE is required (or --test-card PNG to write the "
                                "test card)")
    out = sys.stdout
    results: list[CheckResult] = []
    colour = not args.json and report.use_colour(out)

    def emit(r: CheckResult) -> None:
        results.append(r)
        if args.json:
            print(report.progress_line(r), file=sys.stderr, flush=True)
        else:
            print(report.table_line(r, colour=colour), file=out, flush=True)

    if not args.json:
        print(report.table_header(), file=out, flush=True)
    row, cfg, extra = _config_row(args.config)
    for r in (row, *extra):
        emit(r)
    if cfg is not None:
        options = Options(scan_serial=args.scan_serial, force=args.force,
                          skip=frozenset(args.skip), pulse_ms=args.pulse_ms,
                          camera_measure_s=args.camera_measure,
                          camera_timeout_s=args.camera_timeout,
                          serial_timeout_s=args.serial_timeout,
                          cert_warn_days=args.cert_warn_days)
        ctx = Context(cfg, options)
        for r in iter_checks(ctx):
            emit(r)
    if args.json:
        print(report.to_json(results), file=out, flush=True)
    else:
        print(report.summary(results), file=out, flush=True)
    return EXIT_FAIL if failed(results) else 0
