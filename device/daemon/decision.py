"""Site policy, applied AFTER the verifier. Pure code: no I/O, no clock of its own.

The verifier says whether a code is genuine and valid; the site decides whether it
opens *this* gate:

1. a verifier DENY stands as it is (its reason is the first stage that failed);
2. the code's profile must be in ``accepted_profiles`` → ``profile_not_accepted``;
3. a stale trust list under ``stale_policy = "deny"`` → ``stale_trust_list``;
4. a yellow code when yellow is not accepted → ``status_yellow``;
5. anti-passback: the same code id ACCEPTED here within ``anti_passback_s`` →
   ``replayed`` (a screenshot handed back through the queue).

Anti-passback uses monotonic time (the wall clock is untrusted) and lives in memory:
after a restart the window starts empty (documented in docs/daemon.md).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field

from device.verdict import Reason, Verdict

PROFILES = ("scangate", "eu-dcc")
STALE_POLICIES = ("accept", "deny")


@dataclass(frozen=True, kw_only=True)
class SitePolicy:
    accept_yellow: bool = False
    accepted_profiles: frozenset[str] = field(default_factory=lambda: frozenset(PROFILES))
    anti_passback_s: float = 300.0  # 0 disables anti-passback
    stale_policy: str = "accept"  # "accept" (keep deciding, warn loudly) | "deny"


class PassbackMemory:
    """Code ids accepted recently, oldest first; bounded in size and by the window."""

    def __init__(self, window_s: float, *, max_entries: int = 100_000) -> None:
        self.window_s = window_s
        self.max_entries = max_entries
        self._seen: OrderedDict[str, float] = OrderedDict()

    def _prune(self, t_mono: float) -> None:
        while self._seen:
            code_id, t = next(iter(self._seen.items()))
            if t_mono - t < self.window_s and len(self._seen) <= self.max_entries:
                break
            del self._seen[code_id]

    def seen_within(self, code_id: str, t_mono: float) -> bool:
        self._prune(t_mono)
        t = self._seen.get(code_id)
        return t is not None and t_mono - t < self.window_s

    def remember(self, code_id: str, t_mono: float) -> None:
        self._seen[code_id] = t_mono
        self._seen.move_to_end(code_id)
        self._prune(t_mono)

    def __len__(self) -> int:
        return len(self._seen)


class SiteDecider:
    """Applies a ``SitePolicy`` to verifier verdicts; remembers accepted code ids."""

    def __init__(self, policy: SitePolicy, *, max_entries: int = 100_000) -> None:
        self.policy = policy
        self.passback = PassbackMemory(policy.anti_passback_s, max_entries=max_entries)

    def decide(self, verdict: Verdict, *, t_mono: float, trust_stale: bool = False) -> Verdict:
        """The final verdict for this gate. ``t_mono``: when the code was read."""
        if not verdict.accepted:
            return verdict
        p = self.policy
        if verdict.profile not in p.accepted_profiles:
            return verdict.with_reason(
                Reason.PROFILE_NOT_ACCEPTED,
                f"profile {verdict.profile!r} not accepted at this site",
            )
        if trust_stale and p.stale_policy == "deny":
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
