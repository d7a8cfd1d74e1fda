"""Clock quality: the time floor's verdict (synced / floor / unsure), and the wall clock
against the centre's ``Date`` when the centre answers.

The daemon's view wins while it runs (its floor knows the last sync of this boot);
otherwise the floor file is read (never written). The centre's ``Date`` is the
strongest evidence, so when it is available it decides the line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from provisioning.selftest.centre import centre_probe
from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, duration, fail, passed, warn

NAME = "clock"
SET_CLOCK = ("Turn on time sync (sudo timedatectl set-ntp true) and let NTP (UDP 123) "
             "through the site firewall, then re-run the self-test.")


def _floor_status(ctx: Context) -> tuple[dict[str, Any], str]:
    daemon = ctx.daemon
    if daemon is not None and daemon.status is not None:
        clock = daemon.status.get("clock")
        if isinstance(clock, dict) and clock.get("quality"):
            return clock, "the running daemon"
    return ctx.timefloor.status(), f"the floor file {ctx.config.timefloor_path}"


def check_clock(ctx: Context) -> Iterator[CheckResult]:
    st, where = _floor_status(ctx)
    quality = str(st.get("quality"))
    behind = float(st.get("behind_s") or 0.0)
    floor = f"time floor: {quality} (from {where})"
    opts = ctx.options
    centre = centre_probe(ctx)
    skew = centre.date_skew_s if centre is not None else None
    if skew is not None:
        direction = "ahead of" if skew > 0 else "behind"
        seen = f"wall clock {duration(skew)} {direction} the centre's"
        if abs(skew) > opts.clock_fail_s:
            yield fail(NAME, f"{seen}; {floor}",
                       SET_CLOCK if skew > 0 else
                       "Turn on time sync (sudo timedatectl set-ntp true) and re-run; until "
                       "then the daemon uses its floor of known-good time.")
        elif abs(skew) > opts.clock_warn_s:
            yield warn(NAME, f"{seen}; {floor}", SET_CLOCK)
        else:
            yield passed(NAME, f"wall clock agrees with the centre within {abs(skew):.0f} s; "
                         f"{floor}")
        return
    if quality == "synced":
        yield passed(NAME, f"{floor}: the clock agrees with a trusted source heard "
                     f"{duration(float(st.get('last_sync_age_s') or 0))} ago")
    elif quality == "floor":
        yield warn(NAME, f"{floor}: the wall clock is {duration(behind)} behind known-good "
                   "time; decisions use the floor and are flagged 'floor'", SET_CLOCK)
    else:
        yield warn(NAME, f"{floor}: nothing vouched for the clock recently (no centre Date, "
                   "no sync seen by the daemon)",
                   "Connect the terminal so it reaches the centre (see the centre lines) or "
                   "turn on time sync (sudo timedatectl set-ntp true), then re-run.")
