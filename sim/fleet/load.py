"""Who comes to which gate when, showing what: the arrivals of a scenario, per terminal.

The rate of one gate over the story day is

    rate(h) = busyness x (base + sum_k weight_k * exp(-((h - at_k) / width_k)^2 / 2))
              x surge(h)

scaled so that a gate of busyness 1 sees ``scans_per_terminal`` scans over the day
without surges. Busyness is log-normal with mean 1 (some gates are busier than others).
Arrivals are a non-homogeneous Poisson process: unit-rate exponential steps in
"cumulative intensity" mapped back to time through the tabulated integral (exact, and
O(scans)). Each arrival draws a code kind from the mix; a ``replayed`` draw becomes a
second showing of the gate's previous code, a few seconds after it (a screenshot
handed back through the queue), so anti-passback has something to catch.

Everything is drawn from ``random.Random`` seeded with strings (stable across
processes and Python hash seeds): the same seed gives the same arrivals in every fleet.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from sim.fleet.scenario import Scenario

GRID_S = 1.0  # resolution of the tabulated intensity, virtual seconds


@dataclass(frozen=True, slots=True)
class Arrival:
    """One person at one gate: when (virtual s) and what kind of code.

    The payload is the code book's code ``code`` of ``shown_kind`` for the time window
    of ``shown_t``: for a replay, those of the earlier arrival it replays (the same
    screenshot); otherwise its own kind and time.
    """

    t: float
    kind: str
    code: int
    shown_kind: str
    shown_t: float


#: Kinds a gate accepts under the default policy: the ones a screenshot is worth replaying.
REPLAYABLE = frozenset({"green", "eu_dcc"})


class Curve:
    """The day's rate shape for a busyness-1 gate, in scans per virtual second."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        day = scenario.day
        self.n = max(1, math.ceil(day.length_s / GRID_S))
        shape = [self._shape(day.hour((i + 0.5) * GRID_S)) for i in range(self.n)]
        unit = sum(shape) * GRID_S
        scale = scenario.load.scans_per_terminal / unit if unit > 0 else 0.0
        self.rate_normal = [s * scale for s in shape]  # without surges
        self.rate = [r * self._surge(day.hour((i + 0.5) * GRID_S))
                     for i, r in enumerate(self.rate_normal)]
        self.cum = [0.0]
        for r in self.rate:
            self.cum.append(self.cum[-1] + r * GRID_S)

    def _shape(self, h: float) -> float:
        load = self.scenario.load
        value = load.base
        for p in load.peaks:
            value += p.weight * math.exp(-0.5 * ((h - p.at_h) / p.width_h) ** 2)
        return value

    def _surge(self, h: float) -> float:
        factor = 1.0
        for s in self.scenario.load.surges:
            if s.from_h <= h < s.to_h:
                factor *= s.factor
        return factor

    @property
    def total(self) -> float:
        """Expected scans of a busyness-1 gate over the day, surges included."""
        return self.cum[-1]

    def peak_normal(self) -> float:
        """The highest rate of a busyness-1 gate on a day without surges (scans/s)."""
        return max(self.rate_normal) if self.rate_normal else 0.0

    def time_at(self, u: float) -> float:
        """The virtual second at which the cumulative intensity reaches ``u``."""
        i = bisect.bisect_right(self.cum, u) - 1
        i = min(max(i, 0), self.n - 1)
        r = self.rate[i]
        frac = (u - self.cum[i]) / (r * GRID_S) if r > 0 else 0.0
        return (i + min(max(frac, 0.0), 1.0)) * GRID_S


def busyness(seed: int, index: int, sigma: float) -> float:
    """Log-normal with mean 1: ``exp(N(-sigma^2/2, sigma))``."""
    if sigma <= 0:
        return 1.0
    rng = random.Random(f"{seed}:busyness:{index}")
    return math.exp(rng.gauss(-0.5 * sigma * sigma, sigma))


def arrivals(scenario: Scenario, curve: Curve, seed: int, index: int) -> list[Arrival]:
    """The arrivals at terminal ``index``, in time order (deterministic in seed, index).

    ``code`` counts the gate's arrivals of each kind, so two people at one gate never
    show the same code unless one replays the other's.
    """
    load = scenario.load
    rng = random.Random(f"{seed}:arrivals:{index}")
    b = busyness(seed, index, load.busyness_sigma)
    kinds = [k for k, _ in load.mix]
    cum_w: list[float] = []
    acc = 0.0
    for _, w in load.mix:
        acc += w
        cum_w.append(acc)
    counters: dict[str, int] = {}
    out: list[Arrival] = []
    u = 0.0
    limit = curve.total * b
    last: Arrival | None = None  # the last arrival whose code this gate accepts
    lo, hi = load.replay_delay_s
    while True:
        u += rng.expovariate(1.0)
        if u >= limit:
            break
        t = curve.time_at(u / b)
        kind = kinds[min(bisect.bisect_left(cum_w, rng.random() * acc), len(kinds) - 1)]
        if kind == "replayed" and last is not None:
            out.append(Arrival(last.t + rng.uniform(lo, hi), "replayed", last.code,
                               last.shown_kind, last.shown_t))
            continue
        if kind == "replayed":
            kind = "green"  # nothing to replay yet
        n = counters[kind] = counters.get(kind, 0) + 1
        arrival = Arrival(t, kind, n, kind, t)
        out.append(arrival)
        if kind in REPLAYABLE:
            last = arrival
    out.sort(key=lambda a: a.t)
    return out
