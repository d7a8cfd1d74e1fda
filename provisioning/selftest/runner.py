"""Runs the checks in order and hands each line over as soon as it is known.

A check that raises unexpectedly becomes a FAIL line (the self-test itself never ends in
a traceback); ``--skip GROUP`` turns a group into one SKIP line.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator

from provisioning.selftest.camera import check_cameras
from provisioning.selftest.centre import check_centre
from provisioning.selftest.clock import check_clock
from provisioning.selftest.context import Context
from provisioning.selftest.gate import check_gate
from provisioning.selftest.options import GROUPS
from provisioning.selftest.readers import check_readers
from provisioning.selftest.result import CheckResult, Status, fail, passed, skip
from provisioning.selftest.storage import check_disk, check_journal
from provisioning.selftest.trust import check_trust

log = logging.getLogger(__name__)

Check = Callable[[Context], Iterable[CheckResult]]


def check_daemon(ctx: Context) -> Iterator[CheckResult]:
    d = ctx.daemon
    if d is None:
        yield passed("daemon", "not running: every check uses the hardware directly")
        return
    uptime = (d.status or {}).get("uptime_s")
    up = f", up {uptime:.0f} s" if isinstance(uptime, int | float) else ""
    yield passed("daemon", f"running ({d.via}{up}): the camera and readers are reported as it "
                 "sees them, the gate is not pulsed",
                 "Nothing to do; stop it (sudo systemctl stop scangate) to also decode the test "
                 "card and pulse the gate, and start it again afterwards.")


CHECKS: dict[str, Check] = {
    "daemon": check_daemon,
    "camera": check_cameras,
    "readers": check_readers,
    "gate": check_gate,
    "clock": check_clock,
    "disk": check_disk,
    "journal": check_journal,
    "trust": check_trust,
    "centre": check_centre,
}
assert tuple(CHECKS) == GROUPS


def iter_checks(ctx: Context) -> Iterator[CheckResult]:
    """Every line, in order, each yielded as soon as its check finishes."""
    for group, check in CHECKS.items():
        if group in ctx.options.skip:
            yield skip(group, f"skipped on request (--skip {group})",
                       f"Nothing to do; run without --skip {group} to include it.")
            continue
        try:
            yield from check(ctx)
        except Exception as exc:
            log.debug("selftest check %s failed", group, exc_info=True)
            yield fail(group, f"the check itself failed: {type(exc).__name__}: {exc}",
                       "Re-run with --log-level DEBUG and send the output to support.")


def run_selftest(ctx: Context, on_result: Callable[[CheckResult], None] | None = None,
                 ) -> list[CheckResult]:
    out = []
    for result in iter_checks(ctx):
        out.append(result)
        if on_result is not None:
            on_result(result)
    return out


def failed(results: Iterable[CheckResult]) -> bool:
    return any(r.status is Status.FAIL for r in results)
