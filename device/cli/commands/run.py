"""``scangate run --config FILE``: the terminal daemon (what the systemd unit starts)."""

from __future__ import annotations

import argparse
import logging

log = logging.getLogger(__name__)


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = subparsers.add_parser(
        "run",
        help="run the terminal daemon",
        description="Run the terminal daemon: read codes, verify them offline, decide, "
        "drive the gate, journal every decision, serve the staff screen and sync with "
        "the central engine in the background. Before starting it checks the "
        "configuration and this machine exactly as `scangate config check` does. Stops "
        "cleanly on SIGTERM or Ctrl-C.",
    )
    p.add_argument("--config", required=True, metavar="FILE", help="the TOML configuration")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from device.config import load_config, secret_warnings
    from device.daemon.app import run_daemon

    cfg = load_config(args.config)
    for warning in secret_warnings(args.config, cfg):
        log.warning("%s", warning)
    return run_daemon(cfg)
