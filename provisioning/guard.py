"""The provisioning commands' error boundary: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from device.errors import EnrolmentError, ScangateError
from provisioning.errors import ProvisioningError

EXIT_REFUSED = 2
EXIT_PENDING = 3  # retire: bundle exported, waiting for the centre's receipt


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """One clear line and a non-zero exit for every refusal; never a traceback."""

    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except EnrolmentError as exc:
            print(f"scangate provision: refused ({exc.code}): {exc}", file=sys.stderr)
            return EXIT_REFUSED
        except (ProvisioningError, ScangateError) as exc:
            print(f"scangate provision: error: {exc}", file=sys.stderr)
            return EXIT_REFUSED

    return run


def emit(args: Any, text: str) -> None:
    if not getattr(args, "json", False):
        print(text, flush=True)
