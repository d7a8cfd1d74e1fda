"""Simulated people: every kind gets the verdict it is meant to get (verifier + site policy)."""

from __future__ import annotations

from pathlib import Path

from device.daemon.pipeline import code_hash
from device.decide.decider import SiteDecider, SitePolicy
from device.verify.verifier import Verifier
from sim.keys import make_demo_keys
from sim.people import KINDS, Crowd


def test_every_kind_gets_its_expected_reason(tmp_path: Path) -> None:
    keys = make_demo_keys(tmp_path / "keys")
    verifier = Verifier(keys.load_trust_list())
    decider = SiteDecider(SitePolicy())
    crowd = Crowd(keys.issuer(), seed=5, replay_after_s=0.0)
    seen: set[str] = set()
    for i, person in enumerate(crowd):
        verdict = decider.decide(verifier.verify(person.payload), t_mono=float(i))
        assert verdict.reason.value == person.expected_reason, person
        if verdict.code_id is not None:
            assert person.code == code_hash(verdict.code_id)  # how `sim run` matches lines
        else:
            assert person.code is None
        seen.add(person.kind)
        if seen == set(KINDS) or i > 400:
            break
    assert seen == set(KINDS)
