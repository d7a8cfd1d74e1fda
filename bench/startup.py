"""Start-to-ready time of the daemon: how long a freshly (re)started terminal is blind.

A real ``scangate run`` subprocess with a serial reader on a real pty (sim.serial_pty)
and the staff screen on. A simulated person scans a fresh code every 20 ms from the
moment the process is spawned (as a queue does while systemd restarts the service),
until the first one is decided; then the queue moves at a gate's pace (one every 0.5 s).
Measured per run, from just before the spawn:

    ready (systemd)   READY=1 arrives on $NOTIFY_SOCKET (what systemd waits for)
    ready (log)       the {"event": "ready"} log line
    first decision    the first {"event": "decision"} line: the end of the blind window

Baselines measured in the same run, on the same machine state: the bare interpreter
(``python -c pass``) and the CLI alone (``scangate --version``: interpreter, the CLI's
imports and its parser). The figures include them; the ratios are against them.
``--imports`` also prints the heaviest imports of ``scangate run`` (``-X importtime``).

    python bench/startup.py              # 7 runs, ~20 s
    python bench/startup.py --quick      # 3 runs
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from device.verify.trustlist import TrustStore, load_root_key
from sim.keys import make_demo_keys
from sim.serial_pty import SimSerialReader

SCANGATE = str(Path(sys.executable).with_name("scangate"))
SCAN_EVERY_S = 0.02
QUEUE_EVERY_S = 0.5


def write_site(tmp: Path, port: str) -> tuple[Path, Any]:
    keys = make_demo_keys(tmp / "keys")
    (tmp / "state").mkdir(mode=0o700)
    TrustStore(tmp / "state" / "trust-list.cose", load_root_key(keys.root_public)).install(
        keys.trust_list.read_bytes())
    text = f"""terminal_id = "bench-startup"
state_dir = "state"
[[sources]]
type = "serial"
port = "{port}"
[dedupe]
window_s = 1.0
[gate]
pin_factory = "mock"
pulse_ms = 50
led_ms = 50
[trust]
root_key = "keys/root.pub.pem"
trust_list = "state/trust-list.cose"
[screen]
port = 0
"""
    (tmp / "t.toml").write_text(text)
    return tmp / "t.toml", keys


def spawn_seconds(argv: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - t0


def one_run(tmp: Path, config: Path, codes: list[str],
            tree: Path | None = None) -> dict[str, float]:
    reader = SimSerialReader(link_path=tmp / "tty")
    notify_path = tmp / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as ns:
        ns.bind(str(notify_path))
        ns.settimeout(0.05)
        env = {**os.environ, "NOTIFY_SOCKET": str(notify_path),
               "SCANGATE_LOG_LEVEL": "WARNING"}
        if tree is not None:  # another checkout's code (found before the editable install)
            env["PYTHONPATH"] = str(tree)
        out: dict[str, float] = {}
        stop = threading.Event()
        decided = threading.Event()

        def scan_all_the_time() -> None:
            for code in codes:
                if stop.is_set():
                    return
                try:
                    reader.write(code.encode() + b"\r\n")
                except Exception:
                    return
                time.sleep(QUEUE_EVERY_S if decided.is_set() else SCAN_EVERY_S)

        t0 = time.monotonic()
        proc = subprocess.Popen([SCANGATE, "run", "--config", str(config)],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env)
        person = threading.Thread(target=scan_all_the_time, daemon=True)
        person.start()

        def notify_reader() -> None:
            while not stop.is_set():
                try:
                    msg = ns.recv(4096).decode()
                except TimeoutError:
                    continue
                if "READY=1" in msg and "ready_notify" not in out:
                    out["ready_notify"] = time.monotonic() - t0

        nt = threading.Thread(target=notify_reader, daemon=True)
        nt.start()
        try:
            assert proc.stdout is not None
            deadline = time.monotonic() + 30
            for line in proc.stdout:
                now = time.monotonic() - t0
                try:
                    ev = json.loads(line).get("event")
                except ValueError:
                    continue
                if ev == "ready":
                    out["ready_line"] = now
                elif ev == "decision" and "first_decision" not in out:
                    out["first_decision"] = now
                    decided.set()
                if "ready_line" in out and "first_decision" in out:
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError("the daemon neither got ready nor decided in 30 s")
            end = time.monotonic() + 2
            while "ready_notify" not in out and time.monotonic() < end:
                time.sleep(0.01)
        finally:
            stop.set()
            proc.terminate()
            try:
                proc.communicate(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.communicate()
            person.join(2)
            nt.join(2)
            reader.close()
            notify_path.unlink(missing_ok=True)
    return out


def heaviest_imports(config: Path, n: int = 12) -> list[tuple[float, str]]:
    """The top-level imports of ``scangate run`` by cumulative time (``-X importtime``)."""
    code = ("import sys, threading, os, signal; "
            "threading.Timer(3, lambda: os.kill(os.getpid(), signal.SIGTERM)).start(); "
            "from device.cli.main import main; "
            f"sys.exit(main(['run', '--config', {str(config)!r}]))")
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True,
                       text=True, timeout=30)
    rows: list[tuple[float, str]] = []
    for line in r.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        _self, cum, name = line[len("import time:"):].split("|", 2)
        if name.startswith(" ") and not name.startswith("  "):  # one space: top level
            rows.append((int(cum) / 1000, name.strip()))
    return sorted(rows, reverse=True)[:n]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="3 runs instead of 7")
    ap.add_argument("--runs", type=int)
    ap.add_argument("--imports", action="store_true", help="print the heaviest imports too")
    ap.add_argument("--against", type=Path, metavar="DIR",
                    help="also run another checkout's code (e.g. `git archive main | tar -x "
                         "-C DIR`), interleaved, for a before/after in the same run")
    args = ap.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    with tempfile.TemporaryDirectory(prefix="scangate-bench-startup-") as d:
        trees: dict[str, Path | None] = {"this tree": None}
        if args.against is not None:
            trees[str(args.against)] = args.against.resolve()
        # One site per tree (its own journal: the trees' schemas may differ), kept across
        # the runs as across restarts; a first, uncounted run creates the journal.
        sites: dict[str, tuple[Path, Path]] = {}
        codes: list[str] = []
        per_run = int(3.0 / SCAN_EVERY_S)  # 3 s of scanning, fresh codes every run
        for n, name in enumerate(trees):
            site = Path(d) / f"site{n}"
            site.mkdir()
            config, keys = write_site(site, str(site / "tty"))
            sites[name] = (site, config)
            issuer = keys.issuer()
            codes += [issuer.mint("green") for _ in range(per_run * (runs + 1))]
        bare: list[float] = []
        cli: list[float] = []
        rows: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
        k = 0

        def run(name: str) -> dict[str, float]:
            nonlocal k
            site, config = sites[name]
            k += 1
            return one_run(site, config, codes[(k - 1) * per_run:k * per_run], trees[name])

        for name in trees:
            run(name)  # creates the journal (a first start, not a restart)
        for _ in range(runs):  # interleaved, so that machine noise falls on all alike
            bare.append(spawn_seconds([sys.executable, "-c", "pass"]))
            cli.append(spawn_seconds([SCANGATE, "--version"]))
            for name in trees:
                rows[name].append(run(name))
        med = statistics.median
        b, c = med(bare), med(cli)
        print(f"startup, {runs} runs (median, min-max), seconds from spawn:")
        print(f"  {'python -c pass (baseline)':34} {b:6.3f}  ({min(bare):.3f}-{max(bare):.3f})")
        print(f"  {'scangate --version (baseline)':34} {c:6.3f}  ({min(cli):.3f}-{max(cli):.3f})"
              f"   {c / b:5.1f}x python")
        for name, got in rows.items():
            print(f" {name}:")
            for key, label in (("first_decision", "first scan decided (blind until)"),
                               ("ready_notify", "READY=1 (systemd)"),
                               ("ready_line", "ready log line")):
                vals = [r[key] for r in got if key in r]
                if not vals:
                    print(f"  {label:34} (never)")
                    continue
                m = med(vals)
                ratio = ""
                if name != "this tree":
                    mine = [r[key] for r in rows["this tree"] if key in r]
                    ratio = f", this tree / this: {med(mine) / m:4.2f}" if mine else ""
                print(f"  {label:34} {m:6.3f}  ({min(vals):.3f}-{max(vals):.3f})   "
                      f"{m / b:5.1f}x python{ratio}")
        if args.imports:
            print("heaviest top-level imports of `scangate run` (cumulative, -X importtime):")
            for ms, name in heaviest_imports(sites["this tree"][1]):
                print(f"  {ms:7.1f} ms  {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
