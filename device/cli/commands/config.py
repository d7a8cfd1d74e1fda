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
        help="check FILE and this machine exactly as `scangate run` does, without starting",
        description="Check FILE and this machine exactly as `scangate run` does before it "
        "starts (the same function: key files exist and parse, state directories can be "
        "created and written, backends load, the uplink's CA and client certificate "
        "load), short of binding the screen's port and opening the devices. Leaves no "
        "trace. Exit 0 with a summary, or 2 with the first problem (naming the key, the "
        "value and what to do). systemd's ExecStartPre runs it.",
    )
    check.add_argument("file", metavar="FILE", help="the TOML configuration file")
    check.set_defaults(func=_check)


def _check(args: argparse.Namespace) -> int:
    from device.config import load_config, preflight, secret_warnings

    # A ConfigError -> "scangate config check: error: ..." and exit 2 (device.cli.main).
    cfg = load_config(args.file)
    ready = preflight(cfg, dry_run=True)
    print(f"{args.file}: OK")
    print(cfg.summary())
    for line in ready.checked:
        print(f"  ok  {line}")
    for warning in [*secret_warnings(args.file, cfg), *ready.warnings]:
        print(f"warning: {warning}")
    sys.stdout.flush()
    return 0
