"""``scangate sim fleet``: many terminals, a centre that can collapse, naive clients beside.

Runs the scenario's day in virtual time with N scangate terminals (the real journal,
uplink, verifier and site policy) and the two naive designs on the same arrivals,
each against its own copy of the centre, and prints the headline table; ``--report``
writes report.json and report.html with the plots. See docs/fleet.md.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from sim.cli import run_guarded
from sim.errors import SimError

DEFAULT_SCENARIO = "xian-2022-01-04"


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    # Every `scangate sim ...` command registers this one: keep it to a directory listing
    # (the simulation's modules load only when the fleet runs).
    scenario_dir = Path(__file__).resolve().parent.parent / "scenarios"
    names = ", ".join(sorted(p.stem for p in scenario_dir.glob("*.toml")))
    p = subparsers.add_parser(
        "fleet",
        help="simulate a city of terminals against a centre that can collapse, "
             "beside naive clients",
        description=(
            "Simulate a fleet of gate terminals through one operating day in virtual time: "
            "N scangate terminals running the real journal, uplink (batching, full-jitter "
            "backoff, Retry-After, idempotency keys, heartbeat, trust-list polling), "
            "verifier and site policy, against a simulated central engine with finite "
            "capacity, a queue, 503 shedding, timeouts and outages. The same arrivals go "
            "to two naive designs, each against its own copy of the centre: naive_online "
            "(the gate asks the centre about every scan and waits) and naive_retry "
            "(store-and-forward with fixed-interval retries, no jitter, no Retry-After, "
            "no idempotency). Prints the headline table; --report writes report.json and "
            "a self-contained report.html with plots. Model and scenario keys: "
            "docs/fleet.md."),
        epilog=(f"built-in scenarios: {names}. Examples: "
                "`scangate sim fleet --report out/`; "
                "`scangate sim fleet --scenario xian-2021-12-20 --terminals 1000 --seed 7`; "
                "`scangate sim fleet --scenario normal-day --scenario partition --seed 1 "
                "--seed 2 --report out/` (4 runs, one directory each)."),
    )
    p.add_argument("--scenario", action="append", metavar="NAME|FILE",
                   help=f"a built-in scenario name or a TOML file (repeatable; default "
                        f"{DEFAULT_SCENARIO})")
    p.add_argument("--terminals", type=_positive, metavar="N",
                   help="number of terminals (default: the scenario's, usually 250)")
    p.add_argument("--seed", type=int, action="append", metavar="N",
                   help="random seed (repeatable; default 1). Same seed, same report "
                        "(except wall time, memory and measured latencies)")
    p.add_argument("--report", type=Path, metavar="DIR",
                   help="write report.json and report.html here (one sub-directory per "
                        "run when there are several)")
    p.add_argument("--shards", type=_positive, metavar="K",
                   help="split the city into K shards, each a centre node with its "
                        "terminals (default: one per 2,500 terminals)")
    p.add_argument("--workers", type=_positive, metavar="W",
                   help=f"worker processes (default: the CPU count, {os.cpu_count()}); "
                        "1 runs everything in this process")
    p.add_argument("--fleets", default="scangate,naive_online,naive_retry", metavar="LIST",
                   help="comma-separated fleets to run (default: all three)")
    p.add_argument("--list", action="store_true", help="list the built-in scenarios and exit")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return value


def _run(args: argparse.Namespace) -> int:
    from sim.fleet import scenario as scenarios

    if args.list:
        for name in scenarios.builtin_names():
            sc = scenarios.load(name)
            print(f"{name:20} {sc.description}")
        return 0
    from sim.fleet.runner import FLEETS, run_many

    fleets = [f.strip() for f in args.fleets.split(",") if f.strip()]
    unknown = [f for f in fleets if f not in FLEETS]
    if unknown or not fleets:
        raise SimError(f"--fleets {args.fleets!r}: choose from {', '.join(FLEETS)}")
    loaded = [scenarios.load(s) for s in (args.scenario or [DEFAULT_SCENARIO])]
    seeds = args.seed or [1]
    if args.report is not None:
        _check_matplotlib()
        try:  # fail now, not after a long run
            args.report.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SimError(f"cannot create the report directory {args.report}: "
                           f"{exc.strerror or exc}") from exc
    runs = [(sc, seed) for sc in loaded for seed in seeds]
    try:
        outputs = run_many(runs, terminals=args.terminals, shards=args.shards,
                           workers=args.workers, fleets=[f for f in FLEETS if f in fleets])
    except KeyboardInterrupt:
        print("scangate sim fleet: interrupted", file=sys.stderr)
        return 130
    from sim.fleet import report as rep

    for out in outputs:
        data = rep.build(out)
        print(headline(data))
        if args.report is not None:
            target = args.report if len(outputs) == 1 else (
                args.report / f"{out.scenario.name}-seed{out.seed}")
            try:
                json_path, html_path = rep.write(data, target)
            except OSError as exc:
                raise SimError(f"cannot write the report into {target}: "
                               f"{exc.strerror or exc}") from exc
            print(f"report: {json_path} {html_path}")
    return 0


def _check_matplotlib() -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise SimError("--report needs matplotlib: pip install 'scangate[fleet]'") from None


def headline(d: dict[str, Any]) -> str:
    """The headline table and the goals of one run's report, as printed."""
    from sim.fleet import report as rep

    names = [n for n in rep.FLEETS if n in d["fleets"]]
    lines = [f"scenario {d['scenario']}: {d['terminals']:,} terminals, seed {d['seed']}, "
             f"{d['load']['scans']:,} scans, centre {d['centre']['capacity_rps']:,.1f} req/s; "
             f"wall {d['wall_s']:g} s, peak RSS {d['peak_rss_mb']:g} MB"]
    width = max(len(label) for _k, label in rep.ROWS)
    lines.append(" " * width + "".join(f"{n:>16}" for n in names))
    for label, values in rep.table_rows(d):
        lines.append(f"{label:<{width}}" + "".join(f"{v:>16}" for v in values))
    for g in d["goals"].values():
        mark = "met" if g["met"] else ("n/a" if g["met"] is None else "NOT MET")
        lines.append(f"  goal: {g['goal']}: {rep._fmt(g['value'])} ({mark})")
    return "\n".join(lines)

