"""``scangate sim central``: run the stand-in central engine in the foreground."""

from __future__ import annotations

import argparse
import logging
import sqlite3
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
            "and idempotency keys, the signed trust list with ETag, heartbeats."
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
    p.set_defaults(func=lambda args: run_guarded(_run, args))


def _run(args: argparse.Namespace) -> int:
    from sim.central import CentralServer
    from sim.tlscerts import make_test_pki

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
    stop = threading.Event()
    with stop_on_signals(stop.set):  # SIGINT and SIGTERM, even where SIGINT was ignored
        try:
            server.start()
        except (sqlite3.Error, OSError) as exc:
            raise SimError(f"--db {args.db}: cannot open the stand-in's database ({exc}); "
                           "give a writable path") from exc
        try:
            print(f"central stand-in: {server.url}  (db {args.db}; Ctrl-C stops)", flush=True)
            stop.wait()
        finally:
            server.stop()
            print("central stand-in stopped", flush=True)
    return 0
