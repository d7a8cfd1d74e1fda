"""``scangate verify``: verify scanned payloads offline (a thin layer over the library).

Standard input is read in chunks as they arrive (``read1``), the complete lines of a
chunk are verified together (``Verifier.verify_many``: parsing first, then the
signatures one after another), and the chunk's verdict lines are written and flushed
together: one write per chunk when codes are piped in bulk, one per line when a reader
sends them one at a time. No verdict is cached: every line is verified.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from collections.abc import Callable, Iterator
from json.encoder import encode_basestring

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
#: Bytes asked of standard input per read (a read returns what is available, up to this).
_CHUNK = 1 << 16


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "verify",
        help="verify scanned code payloads offline",
        description="Verify scanned payloads (our SG1: codes and EU DCC HC1: codes) offline "
                    "against signer certificates or a signed trust list. Without PAYLOAD, "
                    "reads one payload per line from standard input (blank lines are "
                    "skipped). Exit status: 0 all accepted, 1 any denied, 2 usage or input "
                    "error.",
    )
    p.add_argument("--cert", action="append", default=[], metavar="FILE",
                   help="signer X.509 certificate (or bare public key), PEM or DER, trusted "
                        "directly for both profiles; repeatable")
    p.add_argument("--trust-list", metavar="FILE", help="signed trust list file")
    p.add_argument("--root-key", metavar="FILE",
                   help="root public key (PEM/DER) that signed --trust-list")
    p.add_argument("--min-version", type=int, default=None, metavar="N",
                   help="refuse a --trust-list whose version is below N (this command keeps "
                        "no installed list, so this is its rollback protection)")
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


def _warn(msg: str) -> None:
    print(f"scangate verify: warning: {msg}", file=sys.stderr)


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
        return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
    except (OverflowError, OSError, ValueError):
        return str(t)


def human_line(v: Verdict) -> str:
    """One line: Chinese first, then English, then technical facts (never personal data)."""
    zh, en = REASON_TEXT[v.reason]
    accepted = v.accepted
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
    if v.detail and not accepted:
        facts.append(v.detail)
    head = "通过" if accepted else "拒绝"
    # "通过：通过" said it twice: the reason is given only when it adds to the headline
    if zh != head:
        head = f"{head}：{zh}"
    line = f"{head} | {'ACCEPT' if accepted else 'DENY'}: {en} ({'; '.join(facts)})"
    if WARNING_STALE in v.warnings:
        line += " [信任列表已过期 / trust list stale]"
    return line


def _str(s: str | None) -> str:
    return "null" if s is None else encode_basestring(s)


def _int(i: int | None) -> str:
    return "null" if i is None else str(i)


def json_line(v: Verdict) -> str:
    """``json.dumps(v.to_json(), ensure_ascii=False)``, written out field by field (the
    same text, a fraction of the cost; tests/device/test_cli_verify.py compares them)."""
    zh, en = REASON_TEXT[v.reason]
    kid = "null" if v.kid is None else f'"{v.kid.hex()}"'
    warnings = ", ".join(encode_basestring(w) for w in v.warnings)
    return (f'{{"decision": "{v.decision.value}", "reason": "{v.reason.value}", '
            f'"message_zh": {encode_basestring(zh)}, "message_en": {encode_basestring(en)}, '
            f'"profile": {_str(v.profile)}, "kid": {kid}, '
            f'"issuer": {_str(v.issuer)}, "iat": {_int(v.iat)}, "exp": {_int(v.exp)}, '
            f'"status": {_str(v.status)}, "cert_type": {_str(v.cert_type)}, '
            f'"code_id": {_str(v.code_id)}, "detail": {encode_basestring(v.detail)}, '
            f'"warnings": [{warnings}]}}')


def _stdin_batches() -> Iterator[list[bytes]]:
    """Non-blank lines of standard input, in batches of what has arrived so far."""
    stream = getattr(sys.stdin, "buffer", None)
    read1 = getattr(stream, "read1", None)
    if read1 is None:  # a text stream without a buffer (e.g. replaced in tests)
        for line in sys.stdin:
            if line.strip():
                yield [line.encode("utf-8", "surrogateescape")]
        return
    rest = b""
    while True:
        chunk = read1(_CHUNK)
        if not chunk:
            break
        lines = (rest + chunk).split(b"\n")
        rest = lines.pop()
        batch = [line for line in lines if line.strip()]
        if batch:
            yield batch
    if rest.strip():
        yield [rest]


def _load_trust(args: argparse.Namespace) -> TrustList:
    root = load_root_key(args.root_key)
    try:
        with open(args.trust_list, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise TrustListError(f"cannot read trust list {args.trust_list}: "
                             f"{exc.strerror or exc}") from exc
    trust = TrustList.from_bytes(data, root)
    if args.min_version is not None and trust.version < args.min_version:
        raise TrustListError(
            f"trust list {args.trust_list} is version {trust.version}, older than "
            f"--min-version {args.min_version} (an old list may restore revoked keys or "
            "codes): use the current list")
    for message in trust.skipped:
        _warn(f"trust list version {trust.version}: {message}")
    return trust


def run(args: argparse.Namespace) -> int:
    if args.root_key and not args.trust_list:
        return _usage("--root-key is only used with --trust-list FILE")
    if args.trust_list and not args.root_key:
        return _usage("--trust-list needs --root-key FILE (the root public key that signed it)")
    if args.min_version is not None and not args.trust_list:
        return _usage("--min-version is only used with --trust-list FILE")
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
    trust: TrustList | list[SignerKey] = _load_trust(args) if args.trust_list else []
    verifier = Verifier(trust, extra_keys=extra)
    # The site's rules, as the daemon applies them (yellow, stale list); no anti-passback:
    # this command checks codes, it does not guard a gate.
    decide = SiteDecider(SitePolicy(accept_yellow=args.accept_yellow,
                                    stale_policy=args.stale_policy, anti_passback_s=0)).decide
    fmt = json_line if args.json else human_line
    batches: Iterator[list[str]] | Iterator[list[bytes]] = (
        iter([[args.payload]]) if args.payload is not None else _stdin_batches())
    # a reader that goes away (`| head`) ends it quietly: device.cli.main's boundary
    count, denied = _verify_all(batches, at, verifier.verify_many, decide, fmt, verifier)
    if count == 0:
        return _usage("no payload: give PAYLOAD or pipe one payload per line on standard input")
    return EXIT_DENIED if denied else EXIT_OK


def _verify_all(batches: Iterator[list[str]] | Iterator[list[bytes]], at: float | None,
                verify_many: Callable[..., list[Verdict]], decide: Callable[..., Verdict],
                fmt: Callable[[Verdict], str], verifier: Verifier) -> tuple[int, int]:
    """Verify, decide and print every payload; (payloads seen, payloads denied)."""
    out = sys.stdout
    monotonic = time.monotonic
    count = denied = 0
    warned = False
    for batch in batches:
        lines = []
        for v in verify_many(batch, at):
            v = decide(v, t_mono=monotonic())
            denied += not v.accepted
            if v.warnings and not warned and WARNING_STALE in v.warnings:
                warned = True
                tl = verifier.trust_list
                if tl is not None:
                    _warn(f"trust list version {tl.version} expired at "
                          f"{_iso(int(tl.expires_at))} (信任列表已过期，请更新)")
            lines.append(fmt(v))
        count += len(lines)
        lines.append("")
        out.write("\n".join(lines))
        out.flush()
    return count, denied
