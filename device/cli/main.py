"""Entry point of the ``scangate`` console command, and its one error boundary.

Every command runs inside ``main``: the built-in ones, the ``sim`` group and any group
found by entry point, with the backends they load by name. Whatever goes wrong is
printed as ONE line on standard error, with one prefix, the command's own name:

    scangate <command>: error: <what went wrong and what to do>

* an ``OperatorError`` (device's ``ScangateError``, ``sim``'s ``SimError``,
  ``provisioning``'s ``ProvisioningError``: raised on purpose, the message says what to
  do) and a usage error found by argparse: exit 2;
* an ``OSError`` (a file or device the command was pointed at): exit 1;
* anything else is a bug: the same one line naming it, exit 1; the traceback is logged
  only with ``--log-level DEBUG``;
* Ctrl-C: exit 130, no traceback.

``device`` never imports ``sim`` or ``provisioning``: their exception bases derive from
``device.errors.OperatorError``, which is how this boundary knows them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from collections.abc import Iterator, Sequence
from importlib.metadata import entry_points
from typing import NoReturn

from device import __version__
from device.errors import OperatorError

log = logging.getLogger(__name__)

#: Exit status for usage, configuration and other operator errors (argparse uses 2 too).
EXIT_USAGE = 2
#: Exit status for a file or device that failed, and for bugs.
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130
#: Namespace attribute holding the name of the command that runs (the error prefix).
PROG_ATTR = "_scangate_prog"


def one_line(message: object) -> str:
    """``message`` on one line: its lines, stripped, joined by a space."""
    return " ".join(part.strip() for part in str(message).splitlines() if part.strip())


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is the same one line as every other error."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {one_line(message)} "
                              f"(see: {self.prog} --help)\n")


def _leaves(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parsers of runnable commands: those without subcommands of their own, and
    those whose subcommands are optional (``sim central`` runs; ``sim central export``
    too)."""
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs or not all(a.required for a in subs):
        yield parser
    for action in subs:
        for child in dict.fromkeys(action.choices.values()):  # aliases share a parser
            yield from _leaves(child)


def commands(parser: argparse.ArgumentParser) -> list[str]:
    """Every runnable command, e.g. ``["config check", ..., "sim central", ...]``."""
    prefix = len(parser.prog) + 1
    return sorted(leaf.prog[prefix:] for leaf in _leaves(parser))


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
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
            register(sub)
        except Exception as exc:  # a broken optional group must not break the CLI
            log.warning("command group %s could not load: %s", ep.name, exc)
    for leaf in _leaves(parser):
        leaf.set_defaults(**{PROG_ATTR: leaf.prog})
    return parser


def _fail(prog: str, message: object, status: int) -> int:
    print(f"{prog}: error: {one_line(message)}", file=sys.stderr)
    return status


def describe_os_error(exc: OSError) -> str:
    """``cannot use /proc/x/journal.db: No such file or directory`` (no errno noise)."""
    what = exc.strerror or str(exc) or type(exc).__name__
    name = exc.filename if exc.filename is not None else None
    return f"cannot use {name}: {what}" if name is not None else what


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    prog = str(getattr(args, PROG_ATTR, "scangate"))
    logging.basicConfig(
        level=getattr(logging, str(args.log_level).upper(), logging.WARNING),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.func(args))
    except OperatorError as exc:
        log.debug("%s failed", prog, exc_info=True)
        return _fail(prog, exc, EXIT_USAGE)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `scangate scan | head -1`: the reader left; not an error
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), sys.stdout.fileno())
        return EXIT_FAILURE
    except OSError as exc:
        log.debug("%s failed", prog, exc_info=True)
        return _fail(prog, describe_os_error(exc), EXIT_FAILURE)
    except Exception as exc:
        log.debug("%s failed", prog, exc_info=True)
        return _fail(prog, f"unexpected {type(exc).__name__}: {exc} (a bug: run again with "
                           "--log-level DEBUG for the details and report it)", EXIT_FAILURE)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
