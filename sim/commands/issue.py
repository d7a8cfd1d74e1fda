"""``scangate sim issue``: mint one of our codes (and optionally its QR image)."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

from device.verify.claims import STATUSES
from sim.cli import run_guarded
from sim.errors import SimError
from sim.keys import DemoKeys

DEFAULT_KEYS_DIR = os.environ.get("SCANGATE_DEMO_KEYS", "demo-keys")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """"300", "90s", "5m", "2h", "1d" -> seconds; SimError otherwise."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", text)
    if not m or float(m.group(1)) <= 0:
        raise SimError(f"duration {text!r}: use a positive number with s, m, h or d (e.g. 5m)")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "issue", help="mint a code and print its payload",
        description="Mint one of our short-lived codes with the demo issuer key and print "
                    "its payload (SG1:...). Subject references are random salted-hash "
                    "stand-ins, never names.")
    p.add_argument("--status", choices=STATUSES, default="green")
    p.add_argument("--valid", default="5m", help="validity, e.g. 90s, 5m, 1h (default 5m)")
    p.add_argument("--keys", type=Path, default=Path(DEFAULT_KEYS_DIR),
                   help=f"demo keys directory from `scangate sim keys` (default "
                        f"{DEFAULT_KEYS_DIR}, or $SCANGATE_DEMO_KEYS)")
    p.add_argument("--png", type=Path, metavar="FILE", help="also write the QR code image")
    p.add_argument("--subject-ref", metavar="HEX", help="subject reference (hex salted hash)")
    p.add_argument("--code-id", metavar="HEX", help="code id (hex, 8..32 bytes)")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _run(args: argparse.Namespace) -> int:
    valid_s = parse_duration(args.valid)
    issuer = DemoKeys.open(args.keys).issuer()
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
