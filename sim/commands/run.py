"""``scangate sim run``: the daemon on simulated hardware, deciding simulated people's codes.

What ``make run`` starts. Creates demo keys, starts the stand-in central engine, a
simulated serial reader on a real pty (and, with ``--camera``, the simulated camera),
writes a configuration into the run directory, starts ``scangate run`` on it, prints
the staff screen's URL, then sends people's codes at a human pace and prints a line
per decision. Ctrl-C stops everything cleanly.
"""

from __future__ import annotations

import argparse
import contextlib
import queue
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from device.cli.args import port_number
from device.verify.verdict import REASON_TEXT, Reason
from sim.cli import run_guarded
from sim.people import Crowd, Person
from sim.signals import stop_on_signals

MARK = {"accept": "✓", "deny": "✗"}


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg,unused-ignore]
    p = subparsers.add_parser(
        "run",
        help="run the terminal daemon on simulated hardware with simulated people",
        description="Run the terminal daemon on simulated hardware: demo keys, the stand-in "
        "central engine, a simulated reader on a real pty (and optionally the simulated "
        "camera); simulated people show their codes at a human pace. Prints the staff "
        "screen's URL and one line per decision. Ctrl-C (SIGINT) or SIGTERM stops it.",
    )
    p.add_argument("--dir", type=Path, default=Path("run"),
                   help="run directory for keys, state and the config (default ./run)")
    p.add_argument("--port", type=port_number, default=8080,
                   help="staff screen port on 127.0.0.1 (default 8080; 0: any free port)")
    p.add_argument("--people", type=int, default=0, metavar="N",
                   help="stop after N people (default: until Ctrl-C)")
    p.add_argument("--duration", type=float, default=0.0, metavar="S",
                   help="stop after S seconds (default: until Ctrl-C)")
    p.add_argument("--interval", type=float, default=2.0, metavar="S",
                   help="mean seconds between people (default 2.0)")
    p.add_argument("--seed", type=int, default=None, help="seed for the crowd")
    p.add_argument("--no-central", action="store_true",
                   help="no stand-in central engine (an offline terminal)")
    p.add_argument("--camera", action="store_true",
                   help="also run the simulated camera source (generated scenes)")
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _line(ev: dict[str, Any], person: Any) -> str:
    mark = MARK.get(ev.get("decision", ""), "?")
    who = person.label if person is not None else ev.get("source", "")
    check = ""
    if person is not None and person.expected_reason != ev.get("reason"):
        check = f"  (expected {person.expected_reason})"
    t = time.strftime("%H:%M:%S")
    zh = ""
    with contextlib.suppress(ValueError):
        zh = REASON_TEXT[Reason(ev.get("reason", ""))][0]
    return (f"{t}  {mark} {ev.get('decision', '?'):6} {ev.get('reason', '?'):16} "
            f"{ev.get('ms', 0):6.1f} ms  {who}{check}  {zh}")


def _run(args: argparse.Namespace) -> int:
    from sim.terminal import SimSite

    site = SimSite(args.dir, port=args.port, central=not args.no_central, camera=args.camera)
    counts: Counter[str] = Counter()
    mismatches = 0
    rc: int | None = None
    interrupted = False

    def interrupt() -> None:
        """The first SIGINT/SIGTERM interrupts whatever runs; later ones wait for the stop."""
        nonlocal interrupted
        if not interrupted:
            interrupted = True
            raise KeyboardInterrupt

    with stop_on_signals(interrupt):
        try:
            site.prepare()
            ready = site.start_daemon()
            print(f"scangate sim: terminal running (daemon pid {ready.get('pid')}, "
                  f"config {site.config_path})")
            enrolled = site.enrol_if_needed(ready["screen"])
            if enrolled is not None:
                print(f"  enrolled on first start: the technician's phone read the screen QR "
                      f"and showed the centre's voucher to the reader; gate "
                      f"{enrolled.get('gate_id')}, certificate "
                      f"{str(enrolled.get('serial'))[:16]}, mutual TLS")
            print(f"  staff screen: {ready['screen']}")
            if site.central is not None:
                print(f"  central stand-in: {site.central.url}")
            if site.reader is not None:
                print(f"  simulated reader: {site.reader.path}")
            print("  Ctrl-C stops.", flush=True)
            assert site.keys is not None
            crowd = Crowd(site.keys.issuer(), seed=args.seed)
            pending: list[Person] = []
            t_end = time.monotonic() + args.duration if args.duration > 0 else None
            next_t = time.monotonic()
            sent = 0
            while True:
                now = time.monotonic()
                if t_end is not None and now >= t_end:
                    break
                if args.people and sent >= args.people and not pending:
                    break
                if site.reader is not None and now >= next_t and not (
                        args.people and sent >= args.people):
                    person = crowd.next()
                    site.reader.send(person.payload)
                    pending.append(person)
                    sent += 1
                    gap = crowd.rng.uniform(0.5, 1.5) * args.interval
                    next_t = now + gap
                for lost in [p for p in pending if now - p.t > 10.0]:
                    pending.remove(lost)
                    mismatches += 1
                    print(f"{time.strftime('%H:%M:%S')}  ? no decision for {lost.label}",
                          flush=True)
                try:
                    ev = site.events.get(timeout=0.05)
                except queue.Empty:
                    continue
                if ev.get("event") == "exit":
                    print("scangate sim: the daemon exited", file=sys.stderr)
                    break
                if ev.get("event") != "decision":
                    continue
                who: Person | None = None
                if str(ev.get("source", "")).startswith("serial:"):
                    who = next((p for p in pending if p.code == ev.get("code")), None)
                    if who is not None:
                        pending.remove(who)
                        if who.expected_reason != ev.get("reason"):
                            mismatches += 1
                counts[ev.get("reason", "?")] += 1
                print(_line(ev, who), flush=True)
        except KeyboardInterrupt:
            print("\nscangate sim: stopping…", flush=True)
        finally:
            with contextlib.suppress(KeyboardInterrupt):
                rc = site.stop()
    total = sum(counts.values())
    summary = ", ".join(f"{k} {v}" for k, v in counts.most_common())
    print(f"scangate sim: {total} decisions ({summary or 'none'}); daemon exit {rc}")
    if mismatches:
        print(f"scangate sim: {mismatches} decisions differed from what was expected",
              file=sys.stderr)
    return 0 if rc == 0 and not mismatches else 1
