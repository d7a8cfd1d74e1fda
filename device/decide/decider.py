"""Site policy, applied AFTER the verifier. Pure code: no I/O, no clock of its own.

The verifier says whether a code is genuine and valid (and reports facts: its status
colour, a ``trust_list_stale`` warning); the site decides whether it opens *this* gate.
The rules, in this order (the first that applies gives the reason):

1. a verifier DENY stands as it is (its reason is the first stage that failed);
2. the code's profile must be in ``accepted_profiles`` → ``profile_not_accepted``;
3. a stale trust list under ``stale_policy = "deny"`` → ``stale_trust_list``;
4. a yellow code when yellow is not accepted → ``status_yellow``;
5. anti-passback: the same code id ACCEPTED here within ``anti_passback_s`` →
   ``replayed`` (a screenshot handed back through the queue).

This is the one place these rules live: the daemon and ``scangate verify`` both use it.
Anti-passback uses monotonic time (the wall clock is untrusted) and lives in memory; the
daemon refills it at start from the journal (``PassbackMemory.restore``), so a restart
does not reopen the window (the rule: docs/daemon.md).
"""

from __future__ import annotations

from device.decide.passback import PassbackMemory
from device.decide.policy import SitePolicy
from device.verify.verdict import WARNING_STALE, Reason, Verdict


class SiteDecider:
    """Applies a ``SitePolicy`` to verifier verdicts; remembers accepted code ids."""

    def __init__(self, policy: SitePolicy, *, max_entries: int = 100_000) -> None:
        self.policy = policy
        self.passback = PassbackMemory(policy.anti_passback_s, max_entries=max_entries)

    def decide(self, verdict: Verdict, *, t_mono: float) -> Verdict:
        """The final verdict for this gate. ``t_mono``: when the code was read."""
        if not verdict.accepted:
            return verdict
        p = self.policy
        if verdict.profile not in p.accepted_profiles:
            return verdict.with_reason(
                Reason.PROFILE_NOT_ACCEPTED,
                f"profile {verdict.profile!r} not accepted at this site",
            )
        if WARNING_STALE in verdict.warnings and p.stale_policy == "deny":
            return verdict.with_reason(
                Reason.STALE_TRUST_LIST, "trust list is past its expiry; site policy denies"
            )
        if verdict.status == "yellow" and not p.accept_yellow:
            return verdict.with_reason(Reason.STATUS_YELLOW, "yellow not accepted at this site")
        if p.anti_passback_s > 0 and verdict.code_id is not None:
            if self.passback.seen_within(verdict.code_id, t_mono):
                return verdict.with_reason(
                    Reason.REPLAYED,
                    f"code accepted here less than {p.anti_passback_s:.0f} s ago",
                )
            self.passback.remember(verdict.code_id, t_mono)
        return verdict
