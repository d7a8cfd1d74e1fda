"""The stand-in centre's provisioning commands, run next to ``scangate sim central --ca``:

    scangate sim token --ca DIR --db central.db --gate G [--url URL] [--voucher]
    scangate sim revoke --ca DIR --db central.db --terminal T
    scangate sim import-bundle FILE --ca DIR --db central.db --receipt-out FILE

They act on the centre's SQLite file directly (as an operator's console would).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from sim.cli import run_guarded
from sim.errors import SimError


def _centre_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--ca", type=Path, required=True, metavar="DIR",
                   help="the centre's CA directory (as given to `scangate sim central --ca`)")
    p.add_argument("--db", type=Path, default=Path("central.db"),
                   help="the centre's SQLite file (default central.db)")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    t = subparsers.add_parser(
        "token", help="mint a one-time enrolment token (and voucher) for a gate",
        description="Mint a one-time enrolment token bound to GATE (valid --ttl seconds, "
        "default 600) and print it with the CA fingerprint and the command a technician "
        "runs; with --voucher also the signed voucher text (and --voucher-png its QR code).")
    _centre_args(t)
    t.add_argument("--gate", required=True, help="the gate id the token is for")
    t.add_argument("--url", default="https://127.0.0.1:8443",
                   help="the centre's address as terminals reach it (default "
                   "https://127.0.0.1:8443)")
    t.add_argument("--ttl", type=float, default=600.0, metavar="S",
                   help="token lifetime in seconds (default 600)")
    t.add_argument("--terminal", help="bind the token to this terminal id")
    t.add_argument("--key-fingerprint", metavar="FP", help="bind the token to this key")
    t.add_argument("--nonce", help="the nonce the terminal's screen QR shows")
    t.add_argument("--voucher", action="store_true", help="also print the signed voucher")
    t.add_argument("--voucher-png", type=Path, metavar="FILE",
                   help="write the voucher as a QR code image")
    t.add_argument("--json", action="store_true", help="print one JSON object")
    t.set_defaults(func=lambda a: run_guarded(_token, a))

    r = subparsers.add_parser(
        "revoke", help="revoke every certificate of a terminal at the stand-in centre",
        description="Revoke a terminal: its uploads are then answered 403 (revoked); it "
        "keeps gating offline and keeps its journal until re-enrolled or retired.")
    _centre_args(r)
    r.add_argument("--terminal", required=True, help="the terminal id to revoke")
    r.add_argument("--reason", default="revoked", help="recorded with the revocation")
    r.set_defaults(func=lambda a: run_guarded(_revoke, a))

    i = subparsers.add_parser(
        "import-bundle", help="import a terminal's retire bundle and write its receipt",
        description="Verify a retire bundle (certificate chain to the CA, the terminal's "
        "signature, the digest of its records), store its records (de-duplicated) and "
        "write the countersigned receipt the technician takes back to the terminal.")
    i.add_argument("bundle", type=Path, metavar="FILE", help="the .sgbundle file")
    _centre_args(i)
    i.add_argument("--receipt-out", type=Path, metavar="FILE",
                   help="where to write the receipt (default FILE with .receipt.json)")
    i.set_defaults(func=lambda a: run_guarded(_import, a))


def _open(args: argparse.Namespace) -> Any:
    from sim.central.ca import CentralCA
    from sim.central.pki import Provisioning
    from sim.central.store import CentralStore

    if not (args.ca / "ca.pem").exists():
        raise SimError(f"no CA in {args.ca}; start the centre first: scangate sim central "
                       f"--ca {args.ca} --db {args.db}")
    ca = CentralCA.open_or_create(args.ca)
    CentralStore(args.db).close()  # the schema of records, if the centre never ran
    return Provisioning(args.db, ca)


def _token(args: argparse.Namespace) -> int:
    prov = _open(args)
    try:
        minted = prov.mint_token(args.gate, ttl_s=args.ttl, terminal_id=args.terminal,
                                 key_fingerprint=args.key_fingerprint, nonce=args.nonce)
        voucher = prov.voucher(minted, args.url) if (args.voucher or args.voucher_png) \
            else None
        fp = prov.ca.fingerprint
    finally:
        prov.close()
    if args.voucher_png is not None and voucher is not None:
        import segno

        segno.make(voucher, error="m").save(str(args.voucher_png), scale=4, border=4)
    out = {"token": minted.token, "gate_id": minted.gate_id, "expires_at": minted.expires_at,
           "ca_fingerprint": fp, "url": args.url, "voucher": voucher}
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    until = time.strftime("%H:%M:%S", time.localtime(minted.expires_at))
    print(f"token      {minted.token}   (one-time, gate {minted.gate_id}, valid until {until})")
    print(f"CA         {fp}")
    print(f"enrol with scangate provision enroll --config FILE --central {args.url} "
          f"--token {minted.token} --gate {minted.gate_id} --ca-fingerprint {fp}")
    if voucher is not None:
        print(f"voucher    {voucher}")
    if args.voucher_png is not None:
        print(f"voucher QR {args.voucher_png}")
    return 0


def _revoke(args: argparse.Namespace) -> int:
    prov = _open(args)
    try:
        n = prov.revoke(args.terminal, args.reason)
    finally:
        prov.close()
    if n == 0:
        raise SimError(f"terminal {args.terminal} has no active certificate here")
    print(f"revoked {n} certificate(s) of {args.terminal}: its uploads are now refused (403)")
    return 0


def _import(args: argparse.Namespace) -> int:
    from sim.central.pki import Refusal

    try:
        data = args.bundle.read_bytes()
    except OSError as exc:
        raise SimError(f"cannot read {args.bundle}: {exc}") from exc
    prov = _open(args)
    try:
        receipt = prov.import_bundle(data)
    except Refusal as exc:
        raise SimError(f"bundle refused ({exc.code}): {exc}") from None
    finally:
        prov.close()
    out = args.receipt_out or args.bundle.with_suffix(".receipt.json")
    out.write_text(json.dumps(receipt, indent=1, sort_keys=True) + "\n")
    claim = receipt["claim"]
    print(f"imported the records of {claim['terminal_id']} (seq up to {claim['last_seq']}, "
          f"{claim['count']} held); receipt written to {out}: take it to the terminal and run "
          f"scangate provision retire --config FILE --receipt {out.name}")
    return 0
