"""The site's policy: which genuine, valid codes open *this* gate. A frozen value, no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field

from device.errors import ConfigError

PROFILES = ("scangate", "eu-dcc")
STALE_POLICIES = ("accept", "deny")


@dataclass(frozen=True, kw_only=True)
class SitePolicy:
    """What a site accepts beyond "genuine and valid" (docs/daemon.md, docs/verifier-api.md).

    ``stale_policy``: ``"accept"`` keeps deciding on an expired trust list (with a loud
    warning), ``"deny"`` denies otherwise-accepted codes. ``anti_passback_s = 0``
    disables anti-passback (what ``scangate verify`` uses: it checks codes, it does not
    guard a gate).
    """

    accept_yellow: bool = False
    accepted_profiles: frozenset[str] = field(default_factory=lambda: frozenset(PROFILES))
    anti_passback_s: float = 300.0
    stale_policy: str = "accept"

    def __post_init__(self) -> None:
        if self.stale_policy not in STALE_POLICIES:
            raise ConfigError(f"stale_policy={self.stale_policy!r}: use 'accept' or 'deny'")
        if not self.anti_passback_s >= 0:
            raise ConfigError(f"anti_passback_s={self.anti_passback_s!r}: must be >= 0")
        unknown = sorted(set(self.accepted_profiles) - set(PROFILES))
        if unknown or not self.accepted_profiles:
            raise ConfigError(f"accepted_profiles={sorted(self.accepted_profiles)!r}: a "
                              f"non-empty set of {', '.join(PROFILES)}")
