"""``scangate config check FILE``: validate a configuration without starting anything."""

from __future__ import annotations

import argparse
import sys


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = subparsers.add_parser(
        "config",
        help="check a terminal configuration file",
        description="Work with the terminal's TOML configuration.",
    )
    sub = p.add_subparsers(dest="config_command", metavar="ACTION")
    sub.required = True
    check = sub.add_parser(
        "check",
        help="validate FILE exactly as `scangate run` does, without starting",
        description="Validate FILE exactly as `scangate run` does at start, without "
        "starting anything. Exit 0 with a summary, or 2 with the first problem "
        "(naming the key, the value and what is allowed).",
    )
    check.add_argument("file", metavar="FILE", help="the TOML configuration file")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from device.config import load_config, secret_warnings

    cfg = load_config(args.file)  # ConfigError -> "scangate: error: ..." and exit 2
    print(f"{args.file}: OK")
    print(cfg.summary())
    for warning in secret_warnings(args.file, cfg):
        print(f"warning: {warning}")
    sys.stdout.flush()
    return 0
