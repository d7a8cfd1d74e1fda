"""``scangate sim central``: run the stand-in central engine in the foreground."""

from __future__ import annotations

import argparse
import json
import logging
import sqlite3
import sys
import threading
from pathlib import Path

from device.cli.args import port_number
from sim.cli import run_guarded
from sim.errors import SimError
from sim.signals import stop_on_signals


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "central",
        help="run the stand-in central engine (HTTP or HTTPS over a SQLite file)",
        description=(
            "Run the stand-in central engine in the foreground until Ctrl-C (SIGINT) or "
            "SIGTERM. It implements docs/central-api.md: record upload with de-duplication "
            "and idempotency keys, the signed trust list with ETag, heartbeats. Faults "
            "(--fault) and an admin API on its own port (faults at runtime, the stored "
            "records) let black-box tests drive it; `export` prints what it stored."
        ),
    )
    p.add_argument("--db", type=Path, default=Path("central.db"), help="SQLite database file")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8443, help="port (0: any free port)")
    p.add_argument(
        "--tls",
        type=Path,
        metavar="DIR",
        help="serve HTTPS with DIR/server.pem and DIR/server.key; created with a throwaway CA "
        "(DIR/ca.pem, pin it in the terminal's uplink.ca_file) if missing",
    )
    p.add_argument("--trust-list", type=Path, help="signed trust-list file to publish")
    p.add_argument(
        "--ca",
        type=Path,
        metavar="DIR",
        help="enrol terminals with the CA in DIR (made if missing: DIR/ca.pem, DIR/ca.key, "
        "server certificate for 127.0.0.1/localhost): HTTPS, EST enrolment and renewal, "
        "client certificates required on /v1/* (mutual TLS); mint tokens with "
        "`scangate sim token`",
    )
    p.add_argument("--trust-root", type=Path, metavar="PEM",
                   help="trust-list root public key handed out at enrolment")
    p.add_argument("--cert-days", type=float, default=30.0, metavar="N",
                   help="lifetime of the terminal certificates it issues (default 30 days)")
    p.add_argument(
        "--fault", action="append", default=[], metavar="SPEC",
        help="inject a fault from the start, e.g. partition:0.2 (one request in five is "
        "stored, then its connection reset), 503:0.5,retry_after=2,endpoint=upload, "
        "slow,delay_s=3, down; repeatable, applied in order (form: KIND[:RATE]"
        "[,key=value...], keys endpoint, times, rate, retry_after, delay_s, code; "
        "docs/central-api.md)")
    p.add_argument("--fault-seed", type=int, metavar="N",
                   help="seed of the random draws of faults with a rate (reproducible runs)")
    p.add_argument("--admin-port", type=port_number, default=0, metavar="PORT",
                   help="port of the admin API (faults, stored records; 0: any free port, "
                   "printed at start)")
    p.add_argument("--admin-host", default="127.0.0.1",
                   help="address of the admin API (default 127.0.0.1; it has no authentication)")
    p.add_argument("--no-admin", action="store_true", help="no admin API")
    p.set_defaults(func=lambda args: run_guarded(_run, args))
    sub = p.add_subparsers(dest="central_action", metavar="ACTION")
    e = sub.add_parser(
        "export", help="print the stand-in's stored records (or heartbeats) as JSON lines",
        description="Print the records a stand-in centre stored, one JSON object per line, "
        "in arrival order, reading its SQLite file read-only (it may be running). The "
        "same fields as GET /admin/records (docs/central-api.md).")
    e.add_argument("--db", type=Path, default=Path("central.db"), help="SQLite database file")
    e.add_argument("--after", type=int, default=0, metavar="CURSOR",
                   help="only what arrived after this cursor (printed at the end)")
    e.add_argument("--terminal", metavar="ID", help="only this terminal's")
    e.add_argument("--heartbeats", action="store_true", help="heartbeats instead of records")
    e.set_defaults(func=lambda args: run_guarded(_export, args))


def _run(args: argparse.Namespace) -> int:
    from sim.central import CentralServer
    from sim.central.admin import AdminServer
    from sim.central.faults import Faults
    from sim.tlscerts import make_test_pki

    faults = Faults(seed=args.fault_seed)
    for spec in args.fault:  # all checked before anything is made or listens
        faults.add_spec(spec)
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    cert = key = ca = None
    if args.ca is not None and args.tls is not None:
        raise SimError("give --ca (enrolment and mutual TLS) or --tls (server TLS only)")
    if args.ca is not None:
        from sim.central.ca import CentralCA

        ca = CentralCA.open_or_create(args.ca)
        print(f"CA {ca.fingerprint} in {args.ca} (terminals pin this fingerprint)")
    if args.tls is not None:
        cert, key = args.tls / "server.pem", args.tls / "server.key"
        if not cert.exists() or not key.exists():
            try:
                make_test_pki(args.tls)
            except OSError as exc:
                raise SimError(f"--tls {args.tls}: cannot write a throwaway CA there "
                               f"({exc.strerror or exc}); give a writable directory") from exc
            print(f"created a throwaway CA: pin {args.tls / 'ca.pem'} in uplink.ca_file")
    server = CentralServer(
        args.db, host=args.host, port=args.port, tls_cert=cert, tls_key=key,
        trust_list_path=args.trust_list, ca=ca, trust_root_path=args.trust_root,
        cert_lifetime_s=args.cert_days * 86400 if ca is not None else None,
    )
    server.faults = faults
    stop = threading.Event()
    with stop_on_signals(stop.set):  # SIGINT and SIGTERM, even where SIGINT was ignored
        try:
            server.start()
        except (sqlite3.Error, OSError) as exc:
            raise SimError(f"--db {args.db}: cannot open the stand-in's database ({exc}); "
                           "give a writable path") from exc
        admin = None
        try:
            print(f"central stand-in: {server.url}  (db {args.db}; Ctrl-C stops)", flush=True)
            if not args.no_admin:
                admin = AdminServer(server, host=args.admin_host, port=args.admin_port).start()
                print(f"admin API: {admin.url}  (faults, stored records: "
                      "docs/central-api.md)", flush=True)
            if args.fault:
                print("faults: " + "; ".join(args.fault), flush=True)
            stop.wait()
        finally:
            if admin is not None:
                admin.stop()
            server.stop()
            print("central stand-in stopped", flush=True)
    return 0


def _export(args: argparse.Namespace) -> int:
    from sim.central.store import open_read_only, read_heartbeats, read_records

    read = read_heartbeats if args.heartbeats else read_records
    conn = open_read_only(args.db)
    n, cursor = 0, args.after
    try:
        while True:
            rows, nxt = read(conn, after=cursor, limit=5000, terminal_id=args.terminal)
            for row in rows:
                sys.stdout.write(json.dumps(row, sort_keys=True) + "\n")
            n += len(rows)
            if not rows:
                break
            cursor = nxt
    finally:
        conn.close()
    sys.stdout.flush()
    what = "heartbeats" if args.heartbeats else "records"
    print(f"exported {n} {what}; next time: --after {cursor}", file=sys.stderr)
    return 0
