"""Trust list: installed, signed by the pinned root key, how old, how long until it expires.

Ages are measured against known-good time (the floor when the wall clock is behind).
FAIL: none installed, or it does not verify, or it is stale and the site policy denies
on a stale list. WARN: stale while the policy accepts, or it expires within
``trust_warn_s`` (default 24 h).
"""

from __future__ import annotations

from collections.abc import Iterator

from device.errors import ScangateError
from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, duration, fail, passed, warn

NAME = "trust list"
FETCH = ("Connect the terminal so the daemon fetches the current list from the centre (see "
         "the centre lines), or copy the operator's signed list to trust.trust_list; then "
         "re-run the self-test.")


def check_trust(ctx: Context) -> Iterator[CheckResult]:
    from device.verify import TrustList, load_root_key

    tcfg = ctx.config.trust
    try:
        root = load_root_key(tcfg.root_key)
    except ScangateError as exc:
        yield fail(NAME, f"the pinned root key {tcfg.root_key} cannot be loaded: {exc}",
                   "Restore the operator's root public key to trust.root_key (it comes with "
                   "the terminal's image or enrolment), then re-run the self-test.")
        return
    try:
        data = tcfg.trust_list.read_bytes()
    except FileNotFoundError:
        yield fail(NAME, f"no trust list installed at {tcfg.trust_list}: every code is denied",
                   FETCH)
        return
    except OSError as exc:
        yield fail(NAME, f"{tcfg.trust_list} cannot be read: {exc}",
                   "Run the self-test as the service user (sudo -u scangate scangate selftest "
                   "--config FILE), then re-run.")
        return
    try:
        tl = TrustList.from_bytes(data, root)
    except ScangateError as exc:
        yield fail(NAME, f"{tcfg.trust_list} does not verify: {exc}",
                   "Delete the damaged file and " + FETCH[0].lower() + FETCH[1:])
        return
    now = ctx.now()
    left = tl.expires_at - now
    detail = (f"version {tl.version}, issued {duration(now - tl.issued_at)} ago, "
              + (f"expires in {duration(left)}" if left >= 0 else
                 f"EXPIRED {duration(left)} ago")
              + f"; {len(tl.keys)} keys, {len(tl.revoked)} revoked codes")
    policy = ctx.config.policy.stale_policy
    if left < 0:
        if policy == "deny":
            yield fail(NAME, detail + "; the site policy denies every code on a stale list",
                       FETCH)
        else:
            yield warn(NAME, detail + f"; the site policy ({policy}) still lets codes through",
                       FETCH)
    elif left < ctx.options.trust_warn_s:
        yield warn(NAME, detail, "Make sure the terminal reaches the centre before then (see "
                   "the centre lines); the daemon fetches newer lists by itself.")
    else:
        yield passed(NAME, detail)
