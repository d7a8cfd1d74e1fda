"""Enrolment time: from the start of `scangate provision enroll` to the first upload the
centre verified over mutual TLS (goal < 5 s here).

The stand-in centre (with a CA made for the run) listens on 127.0.0.1 in this process; a
token is minted for a fresh terminal; then, timed:

    1. `scangate provision enroll ...` as a subprocess (the real CLI: interpreter start,
       CA fetch + fingerprint check, CSR, simpleenroll, trust root and list over mutual
       TLS, atomic commit);
    2. one decision record uploaded through the real Uplink with the new certificate, up
       to the centre's acknowledgement (its client-certificate check included).

Baselines measured in the same run: `scangate --version` as a subprocess (the CLI's own
start-up cost, which step 1 contains) and the same upload with a bearer token over
server-only TLS (what mutual TLS adds). Prints the median of --runs.

    python bench/enroll.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from device.config import load_config
from device.journal import Journal, NewRecord
from device.uplink import Uplink, UplinkConfig
from sim.central import CentralCA, CentralServer
from sim.keys import make_demo_keys

SCANGATE = str(Path(sys.executable).with_name("scangate"))
GOAL_S = 5.0


def cli(*args: str) -> float:
    t0 = time.perf_counter()
    out = subprocess.run([SCANGATE, *args], capture_output=True, text=True, timeout=60)
    dt = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"scangate {' '.join(args[:2])} failed: {out.stderr.strip()}")
    return dt


def terminal(tmp: Path, tid: str) -> Path:
    d = tmp / tid
    d.mkdir()
    path = d / "terminal.toml"
    path.write_text(f'terminal_id = "{tid}"\nstate_dir = "state"\n[[sources]]\n'
                    'type = "serial"\nport = "/dev/null-bench"\n[uplink]\ntimeout_s = 10\n'
                    "batch_interval_s = 0.01\n")
    return path


async def upload_one(cfg: UplinkConfig, journal_path: Path, tid: str) -> float:
    j = Journal(journal_path, terminal_id=tid, min_free_bytes=0)
    j.record(NewRecord(t_wall=time.time(), clock_quality="synced", source="bench",
                       profile="scangate", decision="accept", reason="ok", code_id="c-1",
                       subject_ref=None, kid=None, latency_ms=5.0))
    up = Uplink(cfg, journal=j)
    t0 = time.perf_counter()
    try:
        while j.stats().pending:
            await asyncio.sleep(min(await up.uploader.step(), 0.05))
        return time.perf_counter() - t0
    finally:
        await up.aclose()
        j.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as td:
        tmp = Path(td)
        keys = make_demo_keys(tmp / "keys")
        ca = CentralCA.open_or_create(tmp / "ca")
        mtls = CentralServer(tmp / "central.db", ca=ca, trust_list_path=keys.trust_list,
                             trust_root_path=keys.root_public).start()
        plain = CentralServer(tmp / "plain.db", tls_cert=ca.server_cert,
                              tls_key=ca.server_key, tokens={"bench-token": "b"}).start()
        try:
            totals, enrols, uploads, starts, token_uploads = [], [], [], [], []
            for i in range(args.runs):
                tid = f"bench-{i}"
                config = terminal(tmp, tid)
                minted = mtls.provisioning.mint_token(f"gate-{i}")
                t0 = time.perf_counter()
                enrol_s = cli("provision", "enroll", "--config", str(config), "--central",
                              mtls.url, "--token", minted.token, "--gate", f"gate-{i}",
                              "--ca-fingerprint", ca.fingerprint)
                cfg = load_config(config)
                up_s = asyncio.run(upload_one(cfg.uplink, cfg.journal.path, tid))
                totals.append(time.perf_counter() - t0)
                enrols.append(enrol_s)
                uploads.append(up_s)
                if mtls.store.record_count(tid) != 1:
                    raise SystemExit(f"{tid}: the upload did not reach the centre")
                starts.append(cli("--version"))
                tok = UplinkConfig(base_url=plain.url, terminal_id="b", token="bench-token",
                                   ca_file=ca.ca_path, timeout_s=10, batch_interval_s=0.01)
                token_uploads.append(asyncio.run(upload_one(tok, tmp / f"tok-{i}.db", "b")))
        finally:
            mtls.stop()
            plain.stop()
    med = statistics.median
    total = med(totals)
    print(f"enrol command start -> mTLS-verified upload: {total:.2f} s median of {args.runs} "
          f"(goal < {GOAL_S:g} s: {'met' if total < GOAL_S else 'NOT met'}); "
          f"min {min(totals):.2f} s, max {max(totals):.2f} s")
    print(f"  enrol command (subprocess, all of it): {med(enrols):.2f} s; first upload over "
          f"mutual TLS: {med(uploads) * 1000:.0f} ms")
    print(f"  baseline, same run: `scangate --version` {med(starts):.2f} s (CLI start-up, "
          f"{med(starts) / med(enrols):.0%} of the enrol command); upload with a bearer "
          f"token over server-only TLS {med(token_uploads) * 1000:.0f} ms (mutual TLS: "
          f"x{med(uploads) / med(token_uploads):.2f})")
    return 0 if total < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
