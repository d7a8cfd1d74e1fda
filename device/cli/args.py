"""Argument types shared by the commands (``scangate`` and the ``sim`` group)."""

from __future__ import annotations

import argparse


def port_number(text: str) -> int:
    """A TCP port for ``--port``: 0 (any free port) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port number: use 0 (any free "
                                         "port) to 65535")
    return value
