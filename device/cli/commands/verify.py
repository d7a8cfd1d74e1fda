"""``scangate verify``: verify scanned payloads offline (a thin layer over the library)."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from collections.abc import Iterator

from device.decide import SiteDecider, SitePolicy
from device.errors import TrustListError
from device.verify import (
    REASON_TEXT,
    WARNING_STALE,
    SignerKey,
    TrustList,
    Verdict,
    Verifier,
    load_root_key,
)
from device.verify.keys import load_public_key
from device.verify.trustlist import PROFILES

EXIT_OK, EXIT_DENIED, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "verify",
        help="verify scanned code payloads offline",
        description="Verify scanned payloads (our SG1: codes and EU DCC HC1: codes) offline "
                    "against signer certificates or a signed trust list. Without PAYLOAD, "
                    "reads one payload per line from standard input. Exit status: 0 all "
                    "accepted, 1 any denied, 2 usage or input error.",
    )
    p.add_argument("--cert", action="append", default=[], metavar="FILE",
                   help="signer X.509 certificate (or bare public key), PEM or DER, trusted "
                        "directly for both profiles; repeatable")
    p.add_argument("--trust-list", metavar="FILE", help="signed trust list file")
    p.add_argument("--root-key", metavar="FILE",
                   help="root public key (PEM/DER) that signed --trust-list")
    p.add_argument("--at", metavar="ISO8601",
                   help="validation time, e.g. 2021-05-06T18:00:00Z (default: this clock)")
    p.add_argument("--json", action="store_true", help="one JSON object per payload")
    p.add_argument("--accept-yellow", action="store_true", help="accept yellow status codes")
    p.add_argument("--stale-policy", choices=("accept", "deny"), default="accept",
                   help="what to do when the trust list has expired (default: accept, warn)")
    p.add_argument("payload", nargs="?", metavar="PAYLOAD", help="the scanned text")
    p.set_defaults(func=run)


def _usage(msg: str) -> int:
    print(f"scangate verify: error: {msg}", file=sys.stderr)
    return EXIT_USAGE


def parse_at(text: str) -> float:
    """ISO 8601 (``Z`` allowed; a naive time is UTC) -> Unix seconds; ValueError if not."""
    t = dt.datetime.fromisoformat(text.strip())
    if t.tzinfo is None:
        t = t.replace(tzinfo=dt.UTC)
    return t.timestamp()


def _iso(t: int | None) -> str:
    if t is None:
        return "-"
    try:
        return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, OSError, ValueError):
        return str(t)


def human_line(v: Verdict) -> str:
    """One line: Chinese first, then English, then technical facts (never personal data)."""
    zh, en = REASON_TEXT[v.reason]
    head_zh = "通过" if v.accepted else "拒绝"
    head_en = "ACCEPT" if v.accepted else "DENY"
    facts = [v.reason.value]
    if v.profile:
        facts.append(v.profile)
    if v.status:
        facts.append(f"status {v.status}")
    if v.cert_type:
        facts.append(f"type {v.cert_type}")
    if v.kid is not None:
        facts.append(f"kid {v.kid.hex()}")
    if v.issuer:
        facts.append(f"issuer {v.issuer}")
    if v.exp is not None:
        facts.append(f"exp {_iso(v.exp)}")
    if v.detail and not v.accepted:
        facts.append(v.detail)
    line = f"{head_zh}：{zh} | {head_en}: {en} ({'; '.join(facts)})"
    if WARNING_STALE in v.warnings:
        line += " [信任列表已过期 / trust list stale]"
    return line


def _payloads(args: argparse.Namespace) -> Iterator[str]:
    if args.payload is not None:
        yield args.payload
        return
    for line in sys.stdin:
        if line.strip():
            yield line


def run(args: argparse.Namespace) -> int:
    if args.root_key and not args.trust_list:
        return _usage("--root-key is only used with --trust-list FILE")
    if args.trust_list and not args.root_key:
        return _usage("--trust-list needs --root-key FILE (the root public key that signed it)")
    if not args.trust_list and not args.cert:
        return _usage("no keys to verify against: give --cert FILE (repeatable) or "
                      "--trust-list FILE --root-key FILE")
    at = None
    if args.at is not None:
        try:
            at = parse_at(args.at)
        except ValueError:
            return _usage(f"--at {args.at!r} is not an ISO 8601 time "
                          "(example: 2021-05-06T18:00:00Z)")
    extra = []
    for path in args.cert:
        key, cert = load_public_key(path)  # KeyLoadError -> exit 2 with its message
        extra.append(SignerKey.from_certificate(cert, profiles=PROFILES) if cert is not None
                     else SignerKey.from_public_key(key, profiles=PROFILES, label=str(path)))
    trust: TrustList | list[SignerKey] = []
    if args.trust_list:
        root = load_root_key(args.root_key)
        try:
            with open(args.trust_list, "rb") as f:
                data = f.read()
        except OSError as exc:
            raise TrustListError(f"cannot read trust list {args.trust_list}: "
                                 f"{exc.strerror or exc}") from exc
        trust = TrustList.from_bytes(data, root)
    verifier = Verifier(trust, extra_keys=extra)
    # The site's rules, as the daemon applies them (yellow, stale list); no anti-passback:
    # this command checks codes, it does not guard a gate.
    decider = SiteDecider(SitePolicy(accept_yellow=args.accept_yellow,
                                     stale_policy=args.stale_policy, anti_passback_s=0))
    count = denied = 0
    warned = False
    for payload in _payloads(args):
        v = decider.decide(verifier.verify(payload, at=at), t_mono=time.monotonic())
        count += 1
        denied += not v.accepted
        if WARNING_STALE in v.warnings and not warned and verifier.trust_list is not None:
            warned = True
            print(f"scangate verify: warning: trust list version {verifier.trust_list.version} "
                  f"expired at {_iso(int(verifier.trust_list.expires_at))} "
                  "(信任列表已过期，请更新)", file=sys.stderr)
        if args.json:
            print(json.dumps(v.to_json(), ensure_ascii=False), flush=True)
        else:
            print(human_line(v), flush=True)
    if count == 0:
        return _usage("no payload: give PAYLOAD or pipe one payload per line on standard input")
    return EXIT_DENIED if denied else EXIT_OK
