"""The decision stage: a verified code meets the site's policy (profiles, yellow, stale
trust list, anti-passback). Pure code, no I/O; it knows the verifier's ``Verdict`` only.

    from device.decide import SiteDecider, SitePolicy
    decider = SiteDecider(SitePolicy(accept_yellow=False, anti_passback_s=300))
    final = decider.decide(verifier.verify(payload, at=t), t_mono=scan.t_mono)
"""

from device.decide.decider import SiteDecider
from device.decide.passback import PassbackMemory
from device.decide.policy import PROFILES, STALE_POLICIES, SitePolicy

__all__ = ["PROFILES", "STALE_POLICIES", "PassbackMemory", "SiteDecider", "SitePolicy"]
