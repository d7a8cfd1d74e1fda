"""Benchmark: verifications per second against raw ES256 verifications per second.

Measured in the same run, on the same machine, with DISTINCT payloads throughout (no
code is verified twice in a row, so nothing can be served from a cache):

  * raw ES256: ``cryptography`` ECDSA P-256 verify of one DER signature (the floor);
  * in-process: ``Verifier.verify()`` on distinct freshly minted SG1: codes (and
    ``Verifier.verify_many()`` on them 100 at a time, as the command line uses it), and
    on distinct EU DCCs (the published samples with a fresh UVCI each, re-signed);
  * command line: ``scangate verify --trust-list ...`` fed the distinct SG1: codes on
    standard input (one process per round, so Python startup is counted), with the
    verdict lines written to a file; in human and in ``--json`` form.

Each figure is reported by wall-clock time and by CPU time (this process's
``process_time`` in-process, the child's user+system time for the command line), as a
ratio to the raw rate measured right next to it: in-process, alternating slices of raw
and whole-chain verification (median ratio); the command line, raw slices just before
and just after each run. The machine is shared, so the pairing matters more than the
absolute rates. The child process writes bytecode caches (``PYTHONDONTWRITEBYTECODE``
is dropped for it, as an installed package has them), so startup is an installed one.

Goals (issue 10): command line >= 0.5 x raw, in-process >= 0.7 x raw.

For EU DCCs it also prints what the EU DCC schema check (stage 7) costs: the DCC rate
with the check against the rate with it stubbed out (reading only the type and UVCI),
in alternating slices, and microseconds per DCC for the structure stage and the check.

``--baseline REF`` compares the in-process figures with another revision in the same
run: REF (a git revision of this repository) is exported to a temporary directory and
child processes measure both trees in turn, each against raw ES256 (``--rounds`` pairs);
the report gives each tree's median ratio to raw and their quotient (which tree runs
first alternates from pair to pair).

    .venv/bin/python bench/verify.py [--quick] [--codes N] [--seconds S]
    .venv/bin/python bench/verify.py --baseline main [--rounds 4] [--seconds S]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
#: The tree whose code is measured: this one, or a baseline's export (--baseline children).
CODE = Path(os.environ.get("SCANGATE_BENCH_CODE") or ROOT)
sys.path.insert(0, str(CODE))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402

from device.verify.codecs import cbor, cose  # noqa: E402
from device.verify.codeformat import PROFILE_DCC, unwrap, wrap  # noqa: E402
from device.verify.keys import kid_for_certificate  # noqa: E402
from device.verify.trustlist import SignerKey  # noqa: E402
from device.verify.verifier import Verifier, parse_structure  # noqa: E402
from sim.keys import make_demo_keys  # noqa: E402

GOAL_CLI = 0.5
GOAL_IN_PROCESS = 0.7
SCANGATE = Path(sys.executable).with_name("scangate")


@dataclass
class Paired:
    """A rate and its ratio to the raw rate measured right next to it, as medians over
    alternating slices (so both see the same load on a shared machine)."""

    wall: float = 0.0  # operations per second by wall clock
    cpu: float = 0.0  # operations per second of CPU time
    ratio_wall: float = 0.0
    ratio_cpu: float = 0.0
    best_ratio: float = 0.0  # fastest slice (CPU) over fastest raw slice: a quieter machine


def slice_rate(fn: Callable[[int], None], n: int, seconds: float) -> tuple[float, float]:
    """(ops/s wall, ops/s CPU) running ``fn(n)`` (n operations) repeatedly for ``seconds``."""
    done = 0
    w0, c0 = time.perf_counter(), time.process_time()
    while True:
        fn(n)
        done += n
        if time.perf_counter() - w0 >= seconds:
            break
    return done / (time.perf_counter() - w0), done / max(time.process_time() - c0, 1e-9)


def paired(fn: Callable[[int], None], raw: Callable[[int], None], n: int, seconds: float,
           slices: int) -> Paired:
    """``fn`` against ``raw`` in alternating slices of ``seconds``; medians of the ratios."""
    rows, raw_best = [], 0.0
    for _ in range(slices):
        rw, rc = slice_rate(raw, n, seconds)
        fw, fc = slice_rate(fn, n, seconds)
        rows.append((fw, fc, fw / rw, fc / rc))
        raw_best = max(raw_best, rc)
    return _summary(rows, raw_best)


def _summary(rows: list[tuple[float, float, float, float]], raw_best_cpu: float) -> Paired:
    """Medians of (wall rate, CPU rate, wall ratio, CPU ratio); best CPU rate / best raw."""
    wall, cpu, ratio_wall, ratio_cpu = (statistics.median(c) for c in zip(*rows, strict=True))
    return Paired(wall, cpu, ratio_wall, ratio_cpu, max(r[1] for r in rows) / raw_best_cpu)


def distinct_dccs(count: int) -> tuple[list[tuple[str, float]], SignerKey]:
    """``count`` distinct EU DCCs: the published samples, each with a fresh UVCI, signed by
    one generated P-256 signer (a document signer certificate like the samples')."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bench DSC")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC))
            .sign(key, hashes.SHA256()))
    kid = kid_for_certificate(cert)
    samples = []
    for f in sorted((ROOT / "tests" / "data" / "dcc").glob("*/*.json")):
        d = json.loads(f.read_text(encoding="utf-8"))
        at = dt.datetime.fromisoformat(d["TESTCTX"]["VALIDATIONCLOCK"]).timestamp()
        msg = cose.parse_sign1(cbor.decode(unwrap(d["PREFIX"])[1]))
        samples.append((cbor.decode(msg.payload, max_items=100_000), at))
    out = []
    for i in range(count):
        claims, at = samples[i % len(samples)]
        hcert = claims[-260][1]
        kind = next(t for t in ("v", "t", "r") if t in hcert)
        hcert[kind][0]["ci"] = f"URN:UVCI:01:XX:BENCH{i:08d}"
        out.append((wrap(PROFILE_DCC, cose.sign1(cbor.encode(claims), key, kid)), at))
    return out, SignerKey.from_certificate(cert, profiles={"eu-dcc"})


_CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def cli_run(args: list[str], stdin_path: Path, out_path: Path) -> tuple[float, float, int]:
    """(wall s, child CPU s, exit status) of one ``scangate`` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    w0 = time.perf_counter()
    with open(stdin_path, "rb") as fin, open(out_path, "wb") as fout:
        rc = subprocess.run([str(SCANGATE), *args], stdin=fin, stdout=fout,
                            stderr=subprocess.PIPE, env=_CHILD_ENV, check=False).returncode
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, rc


def cli_paired(args: list[str], codes_file: Path, one_file: Path, n: int, rounds: int,
               out: Path, raw: Callable[[int], None], seconds: float
               ) -> tuple[Paired, Paired, float, float]:
    """The command line against raw ES256 measured just before and after each run:
    (startup counted, startup not counted, startup wall s, startup CPU s)."""
    whole_rows, marginal_rows = [], []
    start_wall = start_cpu = float("inf")
    raw_best = 0.0
    for _ in range(rounds):
        before = slice_rate(raw, 100, seconds)
        w1, c1, rc1 = cli_run(args, one_file, out)
        wn, cn, rcn = cli_run(args, codes_file, out)
        after = slice_rate(raw, 100, seconds)
        if rc1 != 0 or rcn != 0:
            raise SystemExit(f"scangate {' '.join(args)} exited {rcn}: a code was denied")
        lines = out.read_bytes().count(b"\n")
        if lines != n:
            raise SystemExit(f"scangate verify printed {lines} lines for {n} codes")
        raw_w, raw_c = (before[0] + after[0]) / 2, (before[1] + after[1]) / 2
        raw_best = max(raw_best, before[1], after[1])
        whole = (n / wn, n / cn)
        marginal = ((n - 1) / max(wn - w1, 1e-9), (n - 1) / max(cn - c1, 1e-9))
        whole_rows.append((*whole, whole[0] / raw_w, whole[1] / raw_c))
        marginal_rows.append((*marginal, marginal[0] / raw_w, marginal[1] / raw_c))
        start_wall, start_cpu = min(start_wall, w1), min(start_cpu, c1)

    return (_summary(whole_rows, raw_best), _summary(marginal_rows, raw_best), start_wall,
            start_cpu)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="short run (about 15 s)")
    ap.add_argument("--seconds", type=float, default=None, help="seconds per in-process round")
    ap.add_argument("--codes", type=int, default=10_000,
                    help="distinct codes per command-line run (default 10000)")
    ap.add_argument("--baseline", metavar="REF",
                    help="compare the in-process figures with git revision REF, same run")
    ap.add_argument("--rounds", type=int, default=4, help="--baseline: pairs of child runs")
    ap.add_argument("--in-process-json", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    seconds = args.seconds or (0.5 if args.quick else 2.0)
    rounds = 2 if args.quick else 3
    n_codes = max(args.codes, 100)
    with tempfile.TemporaryDirectory(prefix="scangate-bench-") as tmp:
        if args.in_process_json:
            print(json.dumps(in_process(Path(tmp), seconds, rounds, min(n_codes, 2000))))
            return 0
        if args.baseline:
            return compare(Path(tmp), args.baseline, max(args.rounds, 1), seconds)
        return run(Path(tmp), seconds, rounds, n_codes)


def in_process(tmp: Path, seconds: float, rounds: int, n_codes: int) -> dict[str, float]:
    """The in-process figures alone (a --baseline child): CPU ratios to raw ES256."""
    demo = make_demo_keys(tmp)
    ours = Verifier(demo.load_trust_list())
    issuer = demo.issuer()
    now = time.time()
    codes = [issuer.mint("green", valid_s=7 * 86400, now=now) for _ in range(n_codes)]
    dccs, dcc_signer = distinct_dccs(n_codes)
    dcc_verifier = Verifier([dcc_signer])
    assert all(ours.verify(c, at=now + 60).accepted for c in codes[:50]), "minted code denied"
    assert all(dcc_verifier.verify(p, at=t).accepted for p, t in dccs[:50]), "DCC denied"
    raw = raw_es256()
    verify_ours, _, verify_dcc = workloads(ours, codes, now + 60, dcc_verifier, dccs)
    slices = 10 * rounds
    sg = paired(verify_ours, raw, 100, seconds / 4, slices)
    dcc = paired(verify_dcc, raw, 100, seconds / 4, slices)
    return {"sg_ratio_cpu": sg.ratio_cpu, "sg_best": sg.best_ratio,
            "dcc_ratio_cpu": dcc.ratio_cpu, "dcc_best": dcc.best_ratio}


def compare(tmp: Path, ref: str, pairs: int, seconds: float) -> int:
    """In-process figures of revision ``ref`` and of this tree, child processes in turn."""
    base = tmp / "baseline"
    base.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], capture_output=True,
                             check=False)
    if archive.returncode != 0:
        raise SystemExit(f"git archive {ref} failed: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(base)], input=archive.stdout, check=True)
    trees = {"baseline": base, "this tree": ROOT}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
    for i in range(pairs):  # which tree goes first alternates too
        for name, tree in sorted(trees.items(), reverse=bool(i % 2)):
            env = {**os.environ, "SCANGATE_BENCH_CODE": str(tree)}
            out = subprocess.run([sys.executable, str(Path(__file__).resolve()),
                                  "--in-process-json", "--seconds", str(seconds)],
                                 capture_output=True, text=True, env=env, check=False)
            if out.returncode != 0:
                raise SystemExit(f"{name} child failed: {out.stderr.strip()[-500:]}")
            results[name].append(json.loads(out.stdout.splitlines()[-1]))
    print(f"in-process, CPU ratio to raw ES256 (median of {pairs} child runs each, "
          f"alternating; baseline = {ref}):")
    keys = (("sg_ratio_cpu", "our codes (SG1:)"), ("sg_best", "  best slice"),
            ("dcc_ratio_cpu", "EU DCC (HC1:)"), ("dcc_best", "  best slice"))
    for key, label in keys:
        b = statistics.median(r[key] for r in results["baseline"])
        o = statistics.median(r[key] for r in results["this tree"])
        spread = ", ".join(f"{r[key]:.3f}" for r in results["this tree"])
        print(f"  {label:22s} baseline {b:.3f}x   this tree {o:.3f}x   this/baseline "
              f"{o / b:.3f}   (this tree's runs: {spread})")
    return 0


Workload = Callable[[int], None]


def workloads(ours: Verifier, codes: list[str], at: float, dcc_verifier: Verifier,
              dccs: list[tuple[str, float]]) -> tuple[Workload, Workload, Workload]:
    """``n`` verifications of the next distinct payloads, each call going on where the
    last stopped (wrapping round): our codes one by one, the same by ``verify_many``, and
    EU DCCs (each at its own check time)."""
    cursor = {"ours": 0, "dcc": 0}

    def verify_ours(n: int) -> None:
        i, m = cursor["ours"], len(codes)
        for j in range(i, i + n):
            ours.verify(codes[j % m], at=at)
        cursor["ours"] = i + n

    def verify_ours_many(n: int) -> None:
        i, m = cursor["ours"], len(codes)
        ours.verify_many([codes[j % m] for j in range(i, i + n)], at=at)
        cursor["ours"] = i + n

    def verify_dcc(n: int) -> None:
        i, m = cursor["dcc"], len(dccs)
        for j in range(i, i + n):
            p, t = dccs[j % m]
            dcc_verifier.verify(p, at=t)
        cursor["dcc"] = i + n

    return verify_ours, verify_ours_many, verify_dcc


def raw_es256() -> Callable[[int], None]:
    """``n`` ECDSA P-256 verifications over a message the size of a Sig_structure."""
    key = ec.generate_private_key(ec.SECP256R1())
    pub = key.public_key()
    msg = b"\x84jSignature1" + b"\x00" * 200
    sig = key.sign(msg, ec.ECDSA(hashes.SHA256()))
    algo = ec.ECDSA(hashes.SHA256())

    def raw(n: int) -> None:
        for _ in range(n):
            pub.verify(sig, msg, algo)

    return raw


def run(tmp: Path, seconds: float, rounds: int, n_codes: int) -> int:
    demo = make_demo_keys(tmp)
    trust = demo.load_trust_list()
    issuer = demo.issuer()
    now = time.time()
    codes = [issuer.mint("green", valid_s=7 * 86400, now=now) for _ in range(n_codes)]
    assert len(set(codes)) == n_codes, "codes are not distinct"
    codes_file, one_file, out_file = tmp / "codes.txt", tmp / "one.txt", tmp / "out.txt"
    codes_file.write_text("\n".join(codes) + "\n", encoding="ascii")
    one_file.write_text(codes[0] + "\n", encoding="ascii")
    at = dt.datetime.fromtimestamp(now + 60, dt.UTC).isoformat()
    cli_args = ["verify", "--trust-list", str(demo.trust_list), "--root-key",
                str(demo.root_public), "--at", at]
    cli_run(cli_args, one_file, out_file)  # warm the bytecode caches

    ours = Verifier(trust)
    assert all(ours.verify(c, at=now + 60).accepted for c in codes[:200]), "minted code denied"
    dccs, dcc_signer = distinct_dccs(min(n_codes, 5000))
    dcc_verifier = Verifier([dcc_signer])
    assert all(dcc_verifier.verify(p, at=t).accepted for p, t in dccs[:200]), "DCC denied"

    raw = raw_es256()  # the floor
    verify_ours, verify_ours_many, verify_dcc = workloads(ours, codes, now + 60,
                                                          dcc_verifier, dccs)
    batch, slices = 100, 10 * rounds
    raw_alone = slice_rate(raw, batch, seconds)
    ours_rate = paired(verify_ours, raw, batch, seconds / 4, slices)
    many_rate = paired(verify_ours_many, raw, batch, seconds / 4, slices)
    dcc_rate = paired(verify_dcc, raw, batch, seconds / 4, slices)
    with schema_check_stubbed():
        dcc_unchecked = paired(verify_dcc, raw, batch, seconds / 4, slices)
    schema_share = paired_with_stub(verify_dcc, batch, seconds / 4, slices)
    dcc_costs = dcc_stage_costs(dccs[:500], seconds)
    cli_human = cli_paired(cli_args, codes_file, one_file, n_codes, rounds, out_file, raw,
                           seconds / 2)
    cli_json = cli_paired([*cli_args, "--json"], codes_file, one_file, n_codes, rounds,
                          out_file, raw, seconds / 2)

    costs = stage_costs(codes[:500], lambda kid: trust.keys[0].public_key, seconds)
    tracemalloc.start()
    verify_ours(1000)
    verify_dcc(500)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    def line(name: str, r: Paired, goal: float | None) -> str:
        verdict = ""
        if goal is not None:
            ok = [r.ratio_wall >= goal, r.ratio_cpu >= goal, r.best_ratio >= goal]
            verdict = ("meets" if all(ok) else "BELOW" if not any(ok) else
                       "meets by " + "/".join(n for n, o in zip(("wall", "CPU", "best"), ok,
                                                                 strict=True) if o)
                       ) + f" goal {goal}"
        return (f"{name:46s}{r.wall:7,.0f}/s wall ({r.ratio_wall:.2f}x) {r.cpu:7,.0f}/s CPU "
                f"({r.ratio_cpu:.2f}x) best {r.best_ratio:.2f}x  {verdict}")

    print(f"{'raw ES256 verify (cryptography), alone:':46s}{raw_alone[0]:8,.0f} /s wall"
          f"         {raw_alone[1]:8,.0f} /s CPU")
    print("ratios: to raw ES256 measured alternately with each figure, median of the pairs;"
          " best: fastest\n        run or slice over fastest raw slice, by CPU time (what a"
          " quiet machine gives)")
    print(line("in-process, our codes (SG1:, distinct):", ours_rate, GOAL_IN_PROCESS))
    print(line("  the same, verify_many() by 100:", many_rate, GOAL_IN_PROCESS))
    print(line("in-process, EU DCC (HC1:, distinct):", dcc_rate, GOAL_IN_PROCESS))
    print(line("  the same, schema check stubbed out:", dcc_unchecked, None))
    print(f"  with the schema check / without it, alternating slices: {schema_share:.3f} "
          f"(CPU rate, median)")
    for label, (whole, marginal, sw, sc) in (("", cli_human), (" --json", cli_json)):
        print(line(f"scangate verify{label}, {n_codes} codes on stdin:", whole, GOAL_CLI))
        print(line("  the same, startup not counted:", marginal, None))
        print(f"  startup and one code: {sw * 1000:6.0f} ms wall, {sc * 1000:6.0f} ms CPU")
    u, st, sg = costs
    print(f"in-process stages per SG1 code: prefix+Base45+zlib {u:5.1f} us, CBOR/COSE/CWT "
          f"{st:5.1f} us, signature {sg:5.1f} us")
    print(f"in-process stages per DCC: CBOR/COSE/CWT with the schema check {dcc_costs[0]:5.1f} "
          f"us, the EU DCC schema check alone {dcc_costs[1]:5.1f} us")
    print(f"peak traced memory during verification: {peak / 1024:,.0f} KiB")
    print(f"({n_codes} distinct SG1 codes, {len(dccs)} distinct DCCs; {slices} slices of "
          f"{seconds / 4:g} s in-process, {rounds} command-line runs; {os.cpu_count()} cores, "
          "shared)")
    return 0


@contextlib.contextmanager
def schema_check_stubbed() -> Iterator[None]:
    """The verifier with stage 7 reduced to reading the type and UVCI (what it read before
    the EU DCC schema check existed): to measure what the check costs."""
    from device.verify import claims

    real = claims.check_dgc

    def types_and_uvci(dgc: Any) -> tuple[str | None, str | None, str | None]:
        kinds = [t for t in ("v", "t", "r") if t in dgc]
        entry = dgc[kinds[0]][0] if len(kinds) == 1 else {}
        return None, kinds[0] if kinds else None, entry.get("ci")

    claims.check_dgc = types_and_uvci
    try:
        yield
    finally:
        claims.check_dgc = real


def paired_with_stub(fn: Callable[[int], None], n: int, seconds: float, slices: int) -> float:
    """Median CPU-rate quotient of ``fn`` with the schema check over ``fn`` without it, in
    alternating slices."""
    quotients = []
    for _ in range(slices):
        with schema_check_stubbed():
            _, without = slice_rate(fn, n, seconds)
        _, with_check = slice_rate(fn, n, seconds)
        quotients.append(with_check / without)
    return statistics.median(quotients)


def dcc_stage_costs(dccs: list[tuple[str, float]], seconds: float) -> tuple[float, float]:
    """Microseconds per DCC: the structure stage (with the schema check), the check."""
    from device.verify.claims import CLAIM_HCERT
    from device.verify.dccschema import check_dgc

    unwrapped = [unwrap(p) for p, _ in dccs]
    dgcs = [cbor.decode(parse_structure(prof, c)[0].payload, max_items=10_000)[CLAIM_HCERT][1]
            for prof, c in unwrapped]
    m = len(dccs)

    def t_struct(n: int) -> None:
        for i in range(n):
            prof, c = unwrapped[i % m]
            parse_structure(prof, c)

    def t_schema(n: int) -> None:
        for i in range(n):
            check_dgc(dgcs[i % m])

    return tuple(1e6 / slice_rate(f, 100, seconds / 2)[1]  # type: ignore[return-value]
                 for f in (t_struct, t_schema))


def stage_costs(payloads: list[str], key_for: Callable[[bytes], Any], seconds: float
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

    return tuple(1e6 / slice_rate(f, 100, seconds / 3)[1]  # type: ignore[return-value]
                 for f in (t_unwrap, t_struct, t_sig))


if __name__ == "__main__":
    sys.exit(main())
