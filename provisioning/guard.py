"""The provisioning commands' side of the CLI's one error boundary (``device.cli.main``).

Errors are not printed here: they propagate to the boundary, which prints ONE line,
``scangate provision <action>: error: ...``, and exits 2. A refusal from the centre or
the terminal's own checks (``EnrolmentError``) is given its code first, so the line reads
``... error: refused (token_used): the enrolment token was already used ...``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from device.errors import EnrolmentError
from provisioning.errors import ProvisioningError

EXIT_REFUSED = 2
EXIT_PENDING = 3  # retire: bundle exported, waiting for the centre's receipt


class Refused(ProvisioningError):
    """An enrolment step refused; the message starts with its code."""

    def __init__(self, exc: EnrolmentError) -> None:
        super().__init__(f"refused ({exc.code}): {exc}")
        self.code = exc.code


def guarded(func: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        try:
            return int(func(args))
        except EnrolmentError as exc:
            raise Refused(exc) from exc

    return run


def emit(args: Any, text: str) -> None:
    if not getattr(args, "json", False):
        print(text, flush=True)
