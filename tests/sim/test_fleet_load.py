"""Arrivals: deterministic per seed, peaked, surged, with replays a gate must catch."""

from __future__ import annotations

import dataclasses

from sim.fleet import scenario
from sim.fleet.load import Curve, arrivals
from sim.fleet.scenario import Surge


def _sc() -> scenario.Scenario:
    return scenario.load("normal-day")


def test_same_seed_same_arrivals_other_seed_other() -> None:
    sc = _sc()
    curve = Curve(sc)
    assert arrivals(sc, curve, 7, 3) == arrivals(sc, curve, 7, 3)
    assert arrivals(sc, curve, 7, 3) != arrivals(sc, curve, 8, 3)
    assert arrivals(sc, curve, 7, 3) != arrivals(sc, curve, 7, 4)


def test_volume_mix_and_peaks() -> None:
    sc = _sc()
    curve = Curve(sc)
    everyone = [a for i in range(400) for a in arrivals(sc, curve, 1, i)]
    per_terminal = len(everyone) / 400
    assert 0.85 * sc.load.scans_per_terminal < per_terminal < 1.15 * sc.load.scans_per_terminal
    kinds = {k: sum(1 for a in everyone if a.kind == k) / len(everyone) for k, _ in sc.load.mix}
    for kind, weight in sc.load.mix:
        assert abs(kinds[kind] - weight) < 0.02, (kind, kinds[kind], weight)
    day = sc.day
    in_peak = sum(1 for a in everyone if day.at(7.5) <= a.t < day.at(8.5))
    at_night = sum(1 for a in everyone if day.at(21.5) <= a.t < day.at(22.5))
    assert in_peak > 3 * at_night


def test_replays_show_an_accepted_code_again_soon_after() -> None:
    sc = _sc()
    curve = Curve(sc)
    seen = 0
    for i in range(100):
        arr = arrivals(sc, curve, 1, i)
        for a in arr:
            if a.kind != "replayed":
                continue
            seen += 1
            original = [b for b in arr if b.kind == a.shown_kind and b.code == a.code
                        and b.t == a.shown_t]
            assert original and original[0].kind in ("green", "eu_dcc")
            lo, hi = sc.load.replay_delay_s
            assert lo <= a.t - a.shown_t <= hi
    assert seen > 0


def test_codes_are_distinct_per_gate_and_kind() -> None:
    sc = _sc()
    arr = arrivals(sc, Curve(sc), 1, 0)
    firsts = [(a.kind, a.code) for a in arr if a.kind != "replayed"]
    assert len(firsts) == len(set(firsts))


def test_surge_multiplies_the_rate_in_its_window() -> None:
    sc = _sc()
    surged = dataclasses.replace(sc, load=dataclasses.replace(
        sc.load, surges=(Surge(from_h=7.0, to_h=11.0, factor=10.0),)))
    plain, curve = Curve(sc), Curve(surged)
    i = int(sc.day.at(8.0))
    assert curve.rate[i] == 10 * plain.rate[i]
    j = int(sc.day.at(15.0))
    assert curve.rate[j] == plain.rate[j]
    assert curve.peak_normal() == plain.peak_normal()
