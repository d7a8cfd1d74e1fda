"""Entry point of the ``scangate`` console command."""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from device import __version__
from device.errors import ScangateError

log = logging.getLogger(__name__)

#: Exit status for usage or input errors (argparse uses 2 as well).
EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scangate",
        description="Offline QR health-code gate terminal: verify, scan, run, simulate.",
    )
    parser.add_argument("--version", action="version", version=f"scangate {__version__}")
    parser.add_argument(
        "--log-level",
        default=os.environ.get("SCANGATE_LOG_LEVEL", "WARNING"),
        help="logging level (DEBUG, INFO, WARNING, ERROR); default from SCANGATE_LOG_LEVEL",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    import device.cli.commands as builtin

    for info in sorted(pkgutil.iter_modules(builtin.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{builtin.__name__}.{info.name}")
        module.register(sub)
    for ep in sorted(entry_points(group="scangate.commands"), key=lambda e: e.name):
        try:
            register = ep.load()
        except Exception as exc:  # a broken optional group must not break the CLI
            log.warning("command group %s could not load: %s", ep.name, exc)
            continue
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except ScangateError as exc:
        print(f"scangate: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
