"""Output: a table printed line by line as checks finish, or one JSON document.

Table: ``STATUS  CHECK  DETAIL -> REMEDY``, one line per check, then a summary line.
JSON (``--json``): ``{"checks": [{"name", "status", "detail", "remedy"}, ...]}`` on
stdout at the end; progress lines go to stderr meanwhile.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from typing import TextIO

from provisioning.selftest.result import CheckResult, Status

NAME_WIDTH = 20
_COLOURS = {Status.PASS: "32", Status.WARN: "33", Status.FAIL: "1;31", Status.SKIP: "2"}


def use_colour(stream: TextIO) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def table_header() -> str:
    return f"{'STATUS':<6} {'CHECK':<{NAME_WIDTH}} DETAIL -> REMEDY"


def table_line(r: CheckResult, *, colour: bool = False) -> str:
    status = f"{r.status.value:<6}"
    if colour:
        status = f"\x1b[{_COLOURS[r.status]}m{r.status.value}\x1b[0m  "
    return f"{status} {r.name:<{NAME_WIDTH}} {r.detail} -> {r.remedy}"


def summary(results: Iterable[CheckResult]) -> str:
    n = Counter(r.status for r in results)
    counts = ", ".join(f"{n[s]} {s.value}" for s in Status)
    if n[Status.FAIL]:
        return f"selftest: {counts}: fix the FAIL lines above, then run the self-test again"
    if n[Status.WARN]:
        return f"selftest: {counts}: the terminal works; see the WARN lines"
    return f"selftest: {counts}: all good"


def progress_line(r: CheckResult) -> str:
    return f"selftest: {r.status.value} {r.name}"


def to_json(results: Iterable[CheckResult]) -> str:
    return json.dumps({"checks": [r.to_json() for r in results]}, indent=2,
                      ensure_ascii=False)
