"""One line of the self-test: a check's name, its status, what was seen and what to do."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

#: The remedy of a line that needs nothing done.
NOTHING_TO_DO = "Nothing to do."


class Status(StrEnum):
    PASS = "PASS"  # works as configured
    WARN = "WARN"  # works, but something needs attention soon
    FAIL = "FAIL"  # does not work: the terminal cannot do its job until fixed
    SKIP = "SKIP"  # not checked (not configured, asked to skip, or in use by the daemon)


@dataclass(frozen=True)
class CheckResult:
    """``detail``: what the check saw (no personal data: never a scanned payload).
    ``remedy``: one or more sentences a technician can act on."""

    name: str
    status: Status
    detail: str
    remedy: str = NOTHING_TO_DO

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "status": self.status.value, "detail": self.detail,
                "remedy": self.remedy}


def passed(name: str, detail: str, remedy: str = NOTHING_TO_DO) -> CheckResult:
    return CheckResult(name, Status.PASS, detail, remedy)


def warn(name: str, detail: str, remedy: str) -> CheckResult:
    return CheckResult(name, Status.WARN, detail, remedy)


def fail(name: str, detail: str, remedy: str) -> CheckResult:
    return CheckResult(name, Status.FAIL, detail, remedy)


def skip(name: str, detail: str, remedy: str = NOTHING_TO_DO) -> CheckResult:
    return CheckResult(name, Status.SKIP, detail, remedy)


def mb(n: float) -> str:
    """Bytes for a person: ``12.3 MB``, ``65.2 GB``."""
    if abs(n) >= 10 * 2**30:
        return f"{n / 2**30:,.1f} GB"
    return f"{n / 2**20:,.1f} MB"


def duration(seconds: float) -> str:
    """A person's duration: ``45 s``, ``12 min``, ``3.5 h``, ``4.2 days``."""
    s = abs(seconds)
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 48 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} days"
