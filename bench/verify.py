"""Benchmark: whole-chain verifications per second vs raw ES256 verifications per second.

Measures, in the same run on the same machine:
  * raw ES256: ``cryptography`` ECDSA P-256 verify of a DER signature (the floor);
  * our codes: Verifier.verify() on distinct freshly minted SG1: payloads;
  * EU DCCs: Verifier.verify() on the published samples (each with its certificate);
and prints the ratio whole-chain / raw (goal: >= 0.6) and peak memory.

    .venv/bin/python bench/verify.py [--quick] [--seconds S]
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402

from device.verify.codecs import cose  # noqa: E402
from device.verify.codeformat import unwrap  # noqa: E402
from device.verify.trustlist import SignerKey  # noqa: E402
from device.verify.verifier import Verifier, parse_structure  # noqa: E402
from sim.keys import make_demo_keys  # noqa: E402

GOAL = 0.6


def rate(fn: Callable[[int], None], n: int, seconds: float, rounds: int) -> float:
    """Best-of-rounds operations per second; each round runs batches of n for ``seconds``."""
    best = 0.0
    for _ in range(rounds):
        done = 0
        t0 = time.perf_counter()
        while True:
            fn(n)
            done += n
            elapsed = time.perf_counter() - t0
            if elapsed >= seconds:
                break
        best = max(best, done / elapsed)
    return best


def stage_costs(payloads: list[str], key_for: Callable[[bytes], object], seconds: float
                ) -> tuple[float, float, float]:
    """Microseconds per payload for: prefix+Base45+zlib, CBOR/COSE/CWT, signature."""
    unwrapped = [unwrap(p) for p in payloads]
    parsed = [parse_structure(prof, c) for prof, c in unwrapped]
    prepared = [(m.alg, key_for(m.kid or b""), m.to_be_signed(), m.signature) for m, _ in parsed]
    m = len(payloads)

    def t_unwrap(n: int) -> None:
        for i in range(n):
            unwrap(payloads[i % m])

    def t_struct(n: int) -> None:
        for i in range(n):
            prof, c = unwrapped[i % m]
            parse_structure(prof, c)

    def t_sig(n: int) -> None:
        for i in range(n):
            cose.verify(*prepared[i % m])

    return tuple(1e6 / rate(f, 100, seconds / 3, 1)  # type: ignore[return-value]
                 for f in (t_unwrap, t_struct, t_sig))


def load_dcc() -> list[tuple[str, float, SignerKey]]:
    out = []
    for f in sorted((ROOT / "tests" / "data" / "dcc").glob("*/*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        cert = x509.load_der_x509_certificate(base64.b64decode(d["TESTCTX"]["CERTIFICATE"]))
        at = dt.datetime.fromisoformat(d["TESTCTX"]["VALIDATIONCLOCK"]).timestamp()
        out.append((d["PREFIX"], at, SignerKey.from_certificate(cert, profiles={"eu-dcc"})))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (about 5 s)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per round")
    args = ap.parse_args(argv)
    seconds = args.seconds or (0.3 if args.quick else 2.0)
    rounds = 2 if args.quick else 3
    n_codes = 200 if args.quick else 1000

    with tempfile.TemporaryDirectory() as tmp:
        demo = make_demo_keys(Path(tmp))
        trust = demo.load_trust_list()
        issuer = demo.issuer()
    now = time.time()
    codes = [issuer.mint("green", valid_s=3600, now=now) for _ in range(n_codes)]
    ours = Verifier(trust)
    assert all(ours.verify(c, at=now + 1).accepted for c in codes), "minted code rejected"

    dcc = load_dcc()
    dcc_verifier = Verifier([s for _, _, s in dcc])
    assert all(dcc_verifier.verify(p, at=at).accepted for p, at, _ in dcc), "DCC sample rejected"

    # raw floor: one ECDSA P-256 verify over a message the size of a Sig_structure
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key()
    msg = b"\x84jSignature1" + b"\x00" * 200
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    algo = ec.ECDSA(hashes.SHA256())

    def raw(n: int) -> None:
        for _ in range(n):
            pub.verify(sig, msg, algo)

    def verify_ours(n: int) -> None:
        at = now + 1
        for i in range(n):
            ours.verify(codes[i % n_codes], at=at)

    def verify_dcc(n: int) -> None:
        m = len(dcc)
        for i in range(n):
            p, at, _ = dcc[i % m]
            dcc_verifier.verify(p, at=at)

    batch = 100
    raw_rate = rate(raw, batch, seconds, rounds)
    ours_rate = rate(verify_ours, batch, seconds, rounds)
    dcc_rate = rate(verify_dcc, batch, seconds, rounds)
    raw_rate = max(raw_rate, rate(raw, batch, seconds, 1))  # re-measure: same conditions

    costs = {
        "our codes": stage_costs(codes, lambda kid: trust.keys[0].public_key, seconds),
        "EU DCC": stage_costs([p for p, _, _ in dcc],
                              lambda kid: next(s.public_key for _, _, s in dcc if s.kid == kid),
                              seconds),
    }

    tracemalloc.start()
    verify_ours(n_codes)
    verify_dcc(len(dcc) * 5)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    print(f"raw ES256 verify (cryptography):   {raw_rate:10,.0f} /s  "
          f"({1e6 / raw_rate:6.1f} us)")
    for name, r in (("our codes (SG1:, whole chain)", ours_rate),
                    ("EU DCC (HC1:, whole chain)", dcc_rate)):
        ratio = r / raw_rate
        verdict = "meets" if ratio >= GOAL else "BELOW"
        print(f"{name + ':':35s}{r:10,.0f} /s  ({1e6 / r:6.1f} us)  ratio {ratio:.2f} "
              f"({verdict} goal {GOAL})")
    for name, (u, st, sg) in costs.items():
        print(f"  {name} stages: prefix+Base45+zlib {u:5.1f} us, CBOR/COSE/CWT {st:5.1f} us, "
              f"signature {sg:5.1f} us")
    print(f"peak traced memory during verification: {peak / 1024:,.0f} KiB")
    print(f"process peak RSS (ru_maxrss): {rss_kib / 1024:,.1f} MiB")
    print(f"({len(codes)} distinct codes, {len(dcc)} DCC samples, {rounds} rounds x "
          f"{seconds:g} s, best round)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
