"""``scangate sim issue``: mint our codes (one, or ``--count N`` in one process) and
optionally one code's QR image."""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from device.verify.claims import STATUSES
from sim.cli import run_guarded
from sim.errors import SimError
from sim.keys import DemoKeys

DEFAULT_KEYS_DIR = os.environ.get("SCANGATE_DEMO_KEYS", "demo-keys")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
MAX_COUNT = 1_000_000


def parse_duration(text: str) -> float:
    """"300", "90s", "5m", "2h", "1d" -> seconds; SimError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise SimError(f"duration {text!r}: use a positive number with s, m, h or d (e.g. 5m)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "issue", help="mint codes and print their payloads",
        description="Mint our short-lived codes with the demo issuer key and print their "
                    "payloads (SG1:...), one per line. Subject references are random "
                    "salted-hash stand-ins, never names. --count mints many in one process "
                    "(a process per code costs ~0.35 s of start-up each).")
    p.add_argument("--status", choices=STATUSES, default="green")
    p.add_argument("--valid", default="5m", help="validity, e.g. 90s, 5m, 1h (default 5m)")
    p.add_argument("--keys", type=Path, default=Path(DEFAULT_KEYS_DIR),
                   help=f"demo keys directory from `scangate sim keys` (default "
                        f"{DEFAULT_KEYS_DIR}, or $SCANGATE_DEMO_KEYS)")
    p.add_argument("--count", type=int, default=1, metavar="N",
                   help="mint N codes (each its own code id), one payload per line")
    p.add_argument("--png", type=Path, metavar="FILE",
                   help="also write the QR code image (of a single code)")
    p.add_argument("--subject-ref", metavar="HEX", help="subject reference (hex salted hash)")
    p.add_argument("--code-id", metavar="HEX", help="code id (hex, 8..32 bytes)")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _run(args: argparse.Namespace) -> int:
    valid_s = parse_duration(args.valid)
    if not 1 <= args.count <= MAX_COUNT:
        raise SimError(f"--count {args.count}: use 1 to {MAX_COUNT}")
    if args.count > 1 and (args.png is not None or args.code_id is not None):
        raise SimError("--png and --code-id are for a single code: drop them or --count")
    issuer = DemoKeys.open(args.keys).issuer()
    if args.count > 1:
        out = sys.stdout
        for _ in range(args.count):
            out.write(issuer.mint(args.status, valid_s=valid_s,
                                  subject_ref=args.subject_ref) + "\n")
        out.flush()
        return 0
    payload = issuer.mint(args.status, valid_s=valid_s, subject_ref=args.subject_ref,
                          code_id=args.code_id)
    if args.png is not None:
        import segno

        try:
            segno.make(payload, error="m", micro=False).save(str(args.png), scale=6, border=4)
        except OSError as exc:
            raise SimError(f"cannot write {args.png}: {exc.strerror or exc}") from exc
    print(payload)
    return 0
