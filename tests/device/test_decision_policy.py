"""Site policy after the verifier: pure code, driven with hand-made verdicts."""

from __future__ import annotations

from device.decide import PassbackMemory, SiteDecider, SitePolicy
from device.verify.verdict import WARNING_STALE, Decision, Reason, Verdict


def ok(profile: str = "scangate", status: str | None = "green", code_id: str | None = "c1",
       stale: bool = False) -> Verdict:
    return Verdict(decision=Decision.ACCEPT, reason=Reason.OK, profile=profile, status=status,
                   code_id=code_id, warnings=(WARNING_STALE,) if stale else ())


def test_verifier_denial_stands() -> None:
    d = SiteDecider(SitePolicy(accepted_profiles=frozenset({"eu-dcc"})))
    v = Verdict(decision=Decision.DENY, reason=Reason.BAD_SIGNATURE, profile="scangate")
    assert d.decide(v, t_mono=0) is v


def test_profiles() -> None:
    d = SiteDecider(SitePolicy(accepted_profiles=frozenset({"eu-dcc"})))
    assert d.decide(ok(), t_mono=0).reason is Reason.PROFILE_NOT_ACCEPTED
    out = d.decide(ok("eu-dcc", None), t_mono=0)
    assert out.accepted


def test_yellow() -> None:
    assert SiteDecider(SitePolicy()).decide(ok(status="yellow"), t_mono=0).reason is (
        Reason.STATUS_YELLOW)
    assert SiteDecider(SitePolicy(accept_yellow=True)).decide(
        ok(status="yellow"), t_mono=0).accepted


def test_stale() -> None:
    deny = SiteDecider(SitePolicy(stale_policy="deny"))
    assert deny.decide(ok(stale=True), t_mono=0).reason is Reason.STALE_TRUST_LIST
    assert deny.decide(ok(code_id="c2"), t_mono=0).accepted
    keep = SiteDecider(SitePolicy(stale_policy="accept"))
    assert keep.decide(ok(stale=True), t_mono=0).accepted


def test_anti_passback_window() -> None:
    d = SiteDecider(SitePolicy(anti_passback_s=60))
    assert d.decide(ok(), t_mono=100).accepted
    replay = d.decide(ok(), t_mono=130)
    assert replay.reason is Reason.REPLAYED and replay.decision is Decision.DENY
    # A replay does not extend the window: 60 s after the ACCEPT it passes again.
    assert d.decide(ok(), t_mono=160.5).accepted
    assert d.decide(ok(code_id="other"), t_mono=161).accepted


def test_anti_passback_off_and_no_code_id() -> None:
    d = SiteDecider(SitePolicy(anti_passback_s=0))
    assert d.decide(ok(), t_mono=1).accepted and d.decide(ok(), t_mono=2).accepted
    d2 = SiteDecider(SitePolicy())
    assert d2.decide(ok(code_id=None), t_mono=1).accepted
    assert d2.decide(ok(code_id=None), t_mono=2).accepted


def test_passback_memory_is_bounded() -> None:
    m = PassbackMemory(1e9, max_entries=100)
    for i in range(1000):
        m.remember(f"c{i}", float(i))
    assert len(m) == 100
    assert m.seen_within("c999", 1000.0) and not m.seen_within("c0", 1000.0)


def test_policy_order_profile_before_yellow_before_replay() -> None:
    d = SiteDecider(SitePolicy(accepted_profiles=frozenset({"eu-dcc"})))
    assert d.decide(ok(status="yellow"), t_mono=0).reason is Reason.PROFILE_NOT_ACCEPTED
    d2 = SiteDecider(SitePolicy())
    assert d2.decide(ok(status="yellow"), t_mono=0).reason is Reason.STATUS_YELLOW
    assert d2.decide(ok(status="green"), t_mono=1).accepted  # yellow was not remembered


def test_restored_code_ids_are_replays_until_their_window_ends() -> None:
    d = SiteDecider(SitePolicy(anti_passback_s=60))
    # accepted before the restart: 50 s and 10 s ago on this process's monotonic clock
    assert d.passback.restore([("old", 50.0), ("new", 90.0), ("new", 80.0)]) == 2
    assert d.decide(ok(code_id="new"), t_mono=100).reason is Reason.REPLAYED
    assert d.decide(ok(code_id="old"), t_mono=100).reason is Reason.REPLAYED
    assert d.decide(ok(code_id="old"), t_mono=110.5).accepted  # 60 s after 50
    assert d.decide(ok(code_id="new"), t_mono=149).reason is Reason.REPLAYED  # the latest
    assert d.decide(ok(code_id="new"), t_mono=150.5).accepted


def test_restore_keeps_the_newest_within_the_bound_and_the_order() -> None:
    m = PassbackMemory(1e9, max_entries=3)
    m.remember("live", 8.5)
    m.restore([(f"c{i}", float(i)) for i in range(10)])
    assert len(m) == 3
    assert m.seen_within("c9", 10.0) and m.seen_within("c8", 10.0)
    assert m.seen_within("live", 10.0) and not m.seen_within("c7", 10.0)
    m.remember("later", 11.0)  # pruning still drops the oldest first
    assert len(m) == 3 and not m.seen_within("c8", 11.0) and m.seen_within("live", 11.0)
