"""``scangate sim keys DIR``: demo root key, issuer key and a signed trust list."""

from __future__ import annotations

import argparse
from pathlib import Path

from device.verify.keys import kid_for_public_key
from sim.cli import run_guarded
from sim.errors import SimError
from sim.keys import DEFAULT_VALID_DAYS, DemoKeys, make_demo_keys


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "keys", help="write demo keys and a signed trust list",
        description="Write a demo root key, an issuer key and a trust list (version 1) "
                    "signed by the root into DIR.")
    p.add_argument("dir", metavar="DIR", type=Path, help="directory to write (created)")
    p.add_argument("--valid-days", type=float, default=DEFAULT_VALID_DAYS,
                   help=f"trust list validity in days (default {DEFAULT_VALID_DAYS})")
    p.add_argument("--force", action="store_true", help="replace existing demo keys in DIR")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _run(args: argparse.Namespace) -> int:
    existing = DemoKeys.at(args.dir)
    if existing.root_private.exists() and not args.force:
        raise SimError(f"{args.dir} already holds demo keys; use --force to replace them")
    if args.valid_days <= 0:
        raise SimError("--valid-days must be positive")
    dk = make_demo_keys(args.dir, valid_days=args.valid_days)
    issuer = dk.issuer()
    root_kid = kid_for_public_key(dk.root_public_key())
    print(f"root key:    {dk.root_private} (public: {dk.root_public}, kid {root_kid.hex()})")
    print(f"issuer key:  {dk.issuer_private} (kid {issuer.kid.hex()})")
    print(f"trust list:  {dk.trust_list} (version 1, {args.valid_days:g} days)")
    return 0
