"""Fleet simulation cost: wall time, simulated events/s and memory per terminal.

Runs ``scangate sim fleet``'s engine (all three fleets, worker processes) on one
scenario for 250, 1,000 and 10,000 terminals and prints, per size: wall time, the CPU
seconds of all jobs, the simulated events per wall second and per CPU second (scans
decided + requests that reached the centre + requests refused while it was down, all
fleets), the memory per scangate terminal (RSS grown while building them / terminals,
plus its journal and trust-list files on tmpfs at the end of the day) and the peak
RSS of one process. The ratio
column is each size's wall time per terminal against the 250-terminal run of the same
invocation (1.0 = linear scaling).

Goals (docs/fleet.md): 250 terminals <= 120 s, 10,000 terminals <= 600 s wall on this
2-core machine. The machine is shared: compare the ratios, not single figures.

    python bench/fleet.py                       # 250, 1000, 10000 on xian-2022-01-04
    python bench/fleet.py --sizes 250 1000      # a quicker look
    python bench/fleet.py --scenario normal-day --workers 2
"""

from __future__ import annotations

import argparse
import sys
import time

from sim.fleet import scenario
from sim.fleet.metrics import RECOVERY_WINDOW_S
from sim.fleet.runner import run
from sim.fleet.terminals import JOURNAL_QUOTA_BYTES

GOALS_S = {250: 120.0, 10_000: 600.0}


def events(out: object) -> int:
    total = 0
    for r in out.fleets.values():  # type: ignore[attr-defined]
        total += len(r.lat_t) + sum(r.total_requests()) + sum(r.refused)
    return total


def recovery_ratio(out: object) -> float | None:
    """scangate's peak 1-s request rate in the first minute after the recovery over
    naive_retry's (the report's goal; docs/fleet.md)."""
    fleets = out.fleets  # type: ignore[attr-defined]
    rec_h = out.scenario.recovery_h()  # type: ignore[attr-defined]
    if rec_h is None or "naive_retry" not in fleets:
        return None
    lo = int(out.scenario.day.at(rec_h))  # type: ignore[attr-defined]
    peak = {n: max(fleets[n].total_requests()[lo:lo + RECOVERY_WINDOW_S], default=0)
            for n in ("scangate", "naive_retry")}
    return peak["scangate"] / peak["naive_retry"] if peak["naive_retry"] else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scenario", default="xian-2022-01-04")
    ap.add_argument("--sizes", type=int, nargs="+", default=[250, 1000, 10_000])
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    sc = scenario.load(args.scenario)
    print(f"scenario {sc.name}: day {sc.day.length_s:g}+{sc.day.tail_s:g} virtual s, "
          f"journal quota {JOURNAL_QUOTA_BYTES // 2**20} MiB (tmpfs)")
    print(f"{'terminals':>10} {'shards':>6} {'wall s':>8} {'cpu s':>8} {'events':>11} "
          f"{'events/s':>9} {'ev/cpu-s':>9} {'MB/terminal':>11} {'peak RSS MB':>11} "
          f"{'s/terminal':>10} {'ratio':>6}  goal")
    base: float | None = None
    for n in args.sizes:
        t0 = time.perf_counter()
        out = run(sc, args.seed, terminals=n, workers=args.workers)
        wall = time.perf_counter() - t0
        ev = events(out)
        sg = out.fleets["scangate"]
        per = wall / n
        base = base if base is not None else per
        goal = GOALS_S.get(n)
        verdict = "" if goal is None else (f"<= {goal:g} s " + ("met" if wall <= goal
                                                                 else "NOT met"))
        cpu = sum(r.extra.get("cpu_s", 0.0) for r in out.fleets.values())
        ratio = recovery_ratio(out)
        mb = (sg.build_mb_per_terminal or 0.0) + (sg.extra.get("files_mb_per_terminal") or 0.0)
        print(f"{n:>10,} {out.shards:>6} {wall:>8.1f} {cpu:>8.1f} {ev:>11,} {ev / wall:>9,.0f} "
              f"{ev / cpu:>9,.0f} {mb:>11.3f} {out.peak_rss_mb:>11.0f} "
              f"{per:>10.4f} {per / base:>6.2f}  {verdict}"
              + (f"  recovery peak scangate/naive_retry {ratio:.3f}" if ratio is not None
                 else ""), flush=True)
    return 0  # figures, not a gate: the machine is shared (see the goal column)


if __name__ == "__main__":
    sys.exit(main())
