"""The ``scangate provision`` actions: enroll, replace, status, retire."""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path
from typing import Any

from provisioning.errors import ProvisioningError
from provisioning.guard import EXIT_PENDING, emit, guarded


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", required=True, metavar="FILE",
                   help="the terminal's TOML configuration (its terminal_id, state paths)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")


def _enrol_args(p: argparse.ArgumentParser) -> None:
    _common(p)
    p.add_argument("--central", metavar="URL", help="the centre's https:// address")
    p.add_argument("--token", help="the one-time enrolment token minted for this gate")
    p.add_argument("--gate", metavar="GATE", help="the gate id this terminal serves")
    p.add_argument("--ca-fingerprint", metavar="FP",
                   help="SHA-256 of the centre's CA (printed with the token)")
    p.add_argument("--ca-file", type=Path, metavar="PEM",
                   help="the centre's CA certificate instead of its fingerprint")
    p.add_argument("--voucher", metavar="TEXT",
                   help="an enrolment voucher (SGV1.…) instead of --central/--token/--gate/"
                   "--ca-fingerprint; @FILE reads it from a file")
    p.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="seconds per request to the centre (default 10)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    enroll = sub.add_parser(
        "enroll", help="enrol this terminal at the centre (one-time token, mutual TLS)",
        description="Enrol this terminal: its key is made here (if it has none), the "
        "centre's CA is checked against the fingerprint, the centre signs the terminal's "
        "certificate for GATE, and the trust root and list are fetched over mutual TLS. "
        "Only then is anything written. Refusals print one line and change nothing.")
    _enrol_args(enroll)
    enroll.set_defaults(func=guarded(lambda a: _enrol(a, "enrol")))

    replace = sub.add_parser(
        "replace", help="enrol this terminal in place of the one holding GATE (revokes it)",
        description="Like enroll, for a gate another terminal holds: this terminal takes "
        "the gate over and the centre revokes the old terminal's certificate (its uploads "
        "are then refused; retire it with `scangate provision retire`).")
    _enrol_args(replace)
    replace.set_defaults(func=guarded(lambda a: _enrol(a, "replace")))

    status = sub.add_parser(
        "status", help="show this terminal's identity (and, with --online, the centre's view)",
        description="Show the terminal id, gate, certificate serial and days left, the CA "
        "fingerprint, the key fingerprint and the enrolment URI its screen shows. With "
        "--online, ask the centre over mutual TLS what it makes of this certificate.")
    _common(status)
    status.add_argument("--online", action="store_true",
                        help="also ask the centre (GET /v1/identity over mutual TLS)")
    status.set_defaults(func=guarded(_status))

    retire = sub.add_parser(
        "retire", help="hand every record in, get the centre's receipt, then wipe the terminal",
        description="Stop the daemon first. Uploads the whole backlog, signs a claim over "
        "every record and asks the centre to countersign it; only with a receipt that "
        "covers every record are the key, the identity and the journal wiped. When the "
        "centre cannot be reached (or refuses this terminal), writes a signed bundle file "
        "instead (exit 3): import it at the centre, bring back the receipt and run again "
        "with --receipt.")
    _common(retire)
    retire.add_argument("--bundle", type=Path, metavar="FILE",
                        help="where to write the bundle if the centre is unreachable "
                        "(default ./retire-<terminal id>.sgbundle)")
    retire.add_argument("--receipt", type=Path, metavar="FILE",
                        help="the receipt the centre wrote when it imported the bundle")
    retire.add_argument("--offline", action="store_true",
                        help="do not try the centre: write the bundle at once")
    retire.add_argument("--timeout", type=float, default=10.0, metavar="S",
                        help="seconds per request to the centre (default 10)")
    retire.set_defaults(func=guarded(_retire))


def _load(args: argparse.Namespace) -> Any:
    from device.config import load_config

    return load_config(args.config)


def _voucher_text(arg: str) -> str:
    if arg.startswith("@"):
        try:
            return Path(arg[1:]).read_text(encoding="ascii").strip()
        except (OSError, UnicodeDecodeError) as exc:
            raise ProvisioningError(f"cannot read the voucher file {arg[1:]}: {exc}") from exc
    return arg


def _request(args: argparse.Namespace, cfg: Any, intent: str) -> Any:
    from device.enrol import EnrolRequest, parse_voucher
    from device.identity import IdentityStore, key_fingerprint

    pinned = cfg.identity.ca_fingerprint
    if args.voucher:
        if any(v is not None for v in (args.central, args.token, args.gate,
                                       args.ca_fingerprint, args.ca_file)):
            raise ProvisioningError("give either --voucher or --central/--token/--gate/"
                                    "--ca-fingerprint, not both")
        v = parse_voucher(_voucher_text(args.voucher))
        if v.terminal_id is not None and v.terminal_id != cfg.terminal_id:
            raise ProvisioningError(f"the voucher is for terminal {v.terminal_id}, this is "
                                    f"{cfg.terminal_id}; nothing was changed")
        if v.key_fingerprint is not None:
            key = IdentityStore(cfg.identity.dir).load_key()
            if key is None or key_fingerprint(key.public_key()) != v.key_fingerprint:
                raise ProvisioningError("the voucher is bound to another key than this "
                                        "terminal's; nothing was changed")
        return EnrolRequest(central_url=v.url, token=v.token, gate_id=v.gate_id,
                            terminal_id=cfg.terminal_id, ca_fingerprint=v.ca_fingerprint,
                            intent=intent, voucher=v, pinned_ca_fingerprint=pinned)
    missing = [n for n, v in (("--central", args.central), ("--token", args.token),
                              ("--gate", args.gate)) if not v]
    if missing:
        raise ProvisioningError(f"missing {', '.join(missing)} (or give --voucher)")
    if args.ca_fingerprint is None and args.ca_file is None:
        raise ProvisioningError("missing --ca-fingerprint (printed with the token) or "
                                "--ca-file")
    ca_pem = None
    if args.ca_file is not None:
        try:
            ca_pem = args.ca_file.read_bytes()
        except OSError as exc:
            raise ProvisioningError(f"cannot read --ca-file {args.ca_file}: {exc}") from exc
    return EnrolRequest(central_url=args.central, token=args.token, gate_id=args.gate,
                        terminal_id=cfg.terminal_id, ca_fingerprint=args.ca_fingerprint,
                        ca_pem=ca_pem, intent=intent, pinned_ca_fingerprint=pinned)


def _enrol(args: argparse.Namespace, intent: str) -> int:
    from device.enrol import TrustTarget, enrol
    from device.identity import IdentityStore

    t0 = time.monotonic()
    cfg = _load(args)
    req = _request(args, cfg, intent)
    trust = TrustTarget(root_key=cfg.trust.root_key if cfg.trust.root_pinned else None,
                        trust_list=cfg.trust.trust_list)
    result = asyncio.run(enrol(req, IdentityStore(cfg.identity.dir), trust,
                               timeout_s=args.timeout))
    e = result.enrolment
    out = {"enrolled": True, "intent": intent, **e.to_json(),
           "trust_list_version": result.trust_list_version,
           "centre_view": result.centre_view, "seconds": round(time.monotonic() - t0, 3)}
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.cert.not_after))
        verb = "took over" if intent == "replace" else "enrolled at"
        emit(args, f"{e.terminal_id} {verb} gate {e.gate_id}: certificate {e.cert.serial[:16]} "
                   f"valid until {until}, centre {e.central_url}, trust list "
                   f"v{result.trust_list_version}; mutual TLS checked (the centre sees "
                   f"{result.centre_view.get('terminal_id')} / "
                   f"{result.centre_view.get('status')}). Restart the daemon: "
                   "systemctl restart scangate")
    return 0


def _status(args: argparse.Namespace) -> int:
    from device.identity import IdentityStore, key_fingerprint

    cfg = _load(args)
    store = IdentityStore(cfg.identity.dir)
    key = store.load_key()
    enrolment = store.load()
    now = time.time()
    out: dict[str, Any] = {"terminal_id": cfg.terminal_id, "identity_dir": str(store.dir),
                           "enrolled": enrolment is not None,
                           "key_fingerprint": key_fingerprint(key.public_key()) if key else None}
    if enrolment is not None:
        out.update(enrolment.to_json())
        out["days_left"] = round(enrolment.cert.days_left(now), 1)
        out["expired"] = enrolment.cert.expired(now)
    if args.online:
        if cfg.uplink is None or cfg.uplink.client_cert is None:
            raise ProvisioningError("not enrolled: there is no client certificate to show "
                                    "the centre")
        from device.enrol.est import EstClient, pinned_context

        ctx = pinned_context(cfg.uplink.ca_file.read_bytes(), cfg.uplink.client_cert,
                             cfg.uplink.client_key)

        async def ask() -> dict[str, Any]:
            async with EstClient(cfg.uplink.base_url, ctx, terminal_id=cfg.terminal_id) as est:
                return await est.identity()

        out["centre_view"] = asyncio.run(ask())
    if args.json:
        print(json.dumps(out, sort_keys=True))
        return 0
    if enrolment is None:
        print(f"{cfg.terminal_id}: NOT enrolled (key {'present' if key else 'not made yet'})")
    else:
        until = time.strftime("%Y-%m-%d %H:%M", time.localtime(enrolment.cert.not_after))
        state = "EXPIRED" if out["expired"] else f"{out['days_left']} days left"
        print(f"{cfg.terminal_id}: enrolled at gate {enrolment.gate_id}, centre "
              f"{enrolment.central_url}; certificate {enrolment.cert.serial[:16]} valid until "
              f"{until} ({state}); CA {enrolment.ca_fingerprint[:16]}…")
    if key is not None:
        print(f"  key fingerprint {out['key_fingerprint']}")
    if "centre_view" in out:
        cv = out["centre_view"]
        print(f"  centre: {cv.get('terminal_id')} / gate {cv.get('gate_id')} / "
              f"{cv.get('status')}")
    return 0


def _retire(args: argparse.Namespace) -> int:
    from provisioning.retire import retire

    cfg = _load(args)
    result = retire(cfg, bundle=args.bundle, receipt=args.receipt, offline=args.offline,
                    timeout_s=args.timeout, say=lambda line: emit(args, line))
    if args.json:
        print(json.dumps(result.to_json(), sort_keys=True))
    return 0 if result.wiped else EXIT_PENDING
