"""``scangate sim serial``: a simulated serial QR reader on a real pty, sending demo codes.

Run it, then point ``scangate scan --serial PATH`` (or a ``[[sources]]`` serial table) at
the path it prints. With ``--keys DIR`` (from ``scangate sim keys``) it sends freshly
minted, verifiable codes; otherwise plain demo payloads.
"""

from __future__ import annotations

import argparse
import random
import sys
import threading
from pathlib import Path

from sim.cli import run_guarded
from sim.errors import SimError
from sim.serial_pty import SUFFIXES, SimSerialReader
from sim.signals import stop_on_signals


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "serial", help="a simulated serial QR reader on a pty (prints its path)",
        description="Open a pseudo-terminal that behaves like a USB serial QR reader, print "
                    "the path to open (like /dev/ttyACM0), and send a code every --interval "
                    "seconds. Ctrl-C stops.")
    p.add_argument("--link", type=Path, default=None, metavar="PATH",
                   help="path of the device link to create (default: in a temp directory)")
    p.add_argument("--suffix", choices=tuple(SUFFIXES), default="crlf",
                   help="suffix after each code (default crlf)")
    p.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="seconds between codes (default 2)")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="stop after N codes (default: until Ctrl-C)")
    p.add_argument("--keys", type=Path, default=None, metavar="DIR",
                   help="demo keys directory: send real minted codes")
    p.add_argument("--faults", action="store_true",
                   help="mix in faults: split writes, noise, a half code, an unplug/replug")
    p.add_argument("--payload", action="append", default=[], metavar="TEXT",
                   help="send these payloads in turn (repeatable) instead of demo codes")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _payloads(args: argparse.Namespace) -> list[str] | None:
    if args.payload:
        return list(args.payload)
    return None


def _run(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise SimError("--interval must be positive")
    issuer = None
    if args.keys is not None:
        from sim.keys import DemoKeys

        dk = DemoKeys.at(args.keys)
        if not dk.issuer_private.exists():
            raise SimError(f"{args.keys} holds no demo keys; run `scangate sim keys {args.keys}`")
        issuer = dk.issuer()
    fixed = _payloads(args)
    stop = threading.Event()
    rng = random.Random(1)
    with stop_on_signals(stop.set), SimSerialReader(link_path=args.link) as reader:
        print(reader.path, flush=True)
        print(f"scangate sim serial: reader on {reader.path} -> {reader.slave_name}; "
              "Ctrl-C stops", file=sys.stderr)
        n = 0
        while not stop.is_set() and (not args.count or n < args.count):
            if fixed:
                payload = fixed[n % len(fixed)]
            elif issuer is not None:
                payload = issuer.mint(status="green")
            else:
                payload = f"SIM-SERIAL-{n:06d}"
            try:
                if args.faults and n % 5 == 3:
                    reader.send_noise(3, seed=n)
                    stop.wait(0.3)
                if args.faults and n % 7 == 5:
                    reader.unplug()
                    print("scangate sim serial: unplugged", file=sys.stderr)
                    stop.wait(1.0)
                    reader.replug()
                    print("scangate sim serial: plugged back", file=sys.stderr)
                    stop.wait(0.5)
                if args.faults and rng.random() < 0.3:
                    reader.send_split(payload, suffix=args.suffix, parts=3, delay_s=0.02)
                else:
                    reader.send(payload, suffix=args.suffix)
            except SimError as exc:  # nobody reading: keep going
                print(f"scangate sim serial: {exc}", file=sys.stderr)
            n += 1
            stop.wait(args.interval)
    return 0
