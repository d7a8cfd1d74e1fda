"""Benchmark: what the daemon's Prometheus metrics (prometheus_client) cost.

Measured in the same run on the same machine:
  * per decision, the updates the pipeline makes: ``scangate_decisions_total`` (two
    labels) and the three histograms (latency, verify, commit);
  * per scrape of /metrics: rendering a registry shaped like the daemon's (3 counters,
    4 histograms, 22 callback gauges, a few label values each);
  * the baseline: one ``Verifier.verify`` of a freshly minted code (the work a decision
    exists for), and the ratio update / verify.

    .venv/bin/python bench/metrics.py [--quick]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from device.daemon.metrics import Registry  # noqa: E402
from device.verify import TrustStore, Verifier, load_root_key  # noqa: E402
from sim.keys import make_demo_keys  # noqa: E402


def per_call_us(fn: Callable[[int], None], n: int, rounds: int) -> float:
    """Best-of-rounds microseconds per call (``fn(n)`` makes n calls)."""
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, (time.perf_counter() - t0) / n * 1e6)
    return best


def daemon_like() -> tuple[Registry, Callable[[int], None]]:
    r = Registry()
    decisions = r.counter("scangate_decisions_total", "Decisions", labels=("decision", "reason"))
    latency = r.histogram("scangate_decision_latency_ms", "Latency")
    verify = r.histogram("scangate_verify_ms", "Verify")
    commit = r.histogram("scangate_journal_commit_ms", "Commit")
    r.counter("scangate_scans_total", "Scans", labels=("source",)).inc(source="serial:a")
    r.counter("scangate_journal_errors_total", "Errors")
    r.histogram("scangate_decode_ms_hist", "Decode")
    for i in range(22):
        r.gauge(f"scangate_gauge_{i}", "A gauge read at scrape time",
                lambda i=i: [((("source", f"s{j}"),), float(i + j)) for j in range(2)])
    reasons = ["ok", "status_red", "expired", "bad_signature", "replayed"]

    def decide(n: int) -> None:
        for k in range(n):
            reason = reasons[k % 5]
            decisions.inc(decision="accept" if reason == "ok" else "deny", reason=reason)
            latency.observe(3.2)
            verify.observe(0.6)
            commit.observe(1.9)

    decide(100)
    return r, decide


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    n, rounds = (2_000, 3) if args.quick else (20_000, 5)

    registry, decide = daemon_like()
    update_us = per_call_us(decide, n, rounds)

    def scrape(k: int) -> None:
        for _ in range(k):
            registry.render()

    scrape_us = per_call_us(scrape, max(20, n // 200), rounds)
    text = registry.render()

    with tempfile.TemporaryDirectory() as tmp:
        keys = make_demo_keys(Path(tmp) / "keys")
        trust = TrustStore(Path(tmp) / "tl.cose", load_root_key(keys.root_public))
        trust.install(keys.trust_list.read_bytes())
        verifier = Verifier(trust.load())
        issuer = keys.issuer()
        payloads = [issuer.mint("green") for _ in range(min(n, 2_000))]

        def verify_all(k: int) -> None:
            for i in range(k):
                verifier.verify(payloads[i % len(payloads)])

        verify_us = per_call_us(verify_all, len(payloads), rounds)

    print(f"metrics update per decision:  {update_us:8.2f} us")
    print(f"verify per code (baseline):   {verify_us:8.2f} us")
    print(f"ratio update / verify:        {update_us / verify_us:8.3f}")
    print(f"scrape (render) of /metrics:  {scrape_us / 1000:8.3f} ms "
          f"({len(text.splitlines())} lines, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
