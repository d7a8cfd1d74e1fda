"""``scangate sim ...``: registered into the ``scangate`` CLI through an entry point."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser(
        "sim",
        help="simulated hardware, demo keys and codes, a stand-in central engine",
        description="Simulated hardware, demo keys and codes, and a stand-in central engine.",
    )
    sub = parser.add_subparsers(dest="sim_command", metavar="SIMCOMMAND")
    sub.required = True
    import sim.commands as commands

    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{commands.__name__}.{info.name}")
        module.register(sub)


def run_guarded(func: Callable[[argparse.Namespace], int], args: argparse.Namespace) -> int:
    """Run a sim handler. Its errors go to the one error boundary, ``device.cli.main``:
    ``SimError`` derives from ``OperatorError``, so it is one line and exit 2 there."""
    return int(func(args))
