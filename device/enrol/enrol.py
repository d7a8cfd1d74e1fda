"""Enrolment: one exchange with the centre, then one atomic commit on the terminal.

    result = await enrol(EnrolRequest(central_url=..., token=..., gate_id=...,
                                      terminal_id=..., ca_fingerprint=...),
                         IdentityStore(cfg.identity.dir),
                         TrustTarget(root_key=None, trust_list=cfg.trust.trust_list))

Steps (docs/central-api.md, "Enrolment"): the CA from ``cacerts`` must match the expected
fingerprint; from then on TLS pins that CA; ``simpleenroll`` with the one-time token
and a CSR for the terminal's key; the certificate must be for this key, terminal and
gate; the trust root and the trust list are fetched over mutual TLS with the new
certificate (which proves it works) and checked; then, and only then, the key (if new),
the identity generation and the trust list are written. Every refusal is an
``EnrolmentError`` with one line, and leaves the terminal as it was.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device.enrol.est import EstClient, bootstrap_context, pinned_context
from device.enrol.voucher import Voucher
from device.errors import EnrolmentError, KeyLoadError, TrustListError
from device.files import atomic_write
from device.identity.certs import (
    build_csr,
    ca_fingerprint,
    check_id,
    generate_key,
    issued_by,
    key_fingerprint,
    names_of,
    normalise_fingerprint,
    pem,
    private_pem,
)
from device.identity.files import make_private_dir
from device.identity.store import Enrolment, IdentityStore
from device.verify.keys import parse_public_key, spki_der
from device.verify.trustlist import TrustList, TrustStore

INTENTS = ("enrol", "replace")


@dataclass(frozen=True)
class EnrolRequest:
    central_url: str
    token: str
    gate_id: str
    terminal_id: str
    ca_fingerprint: str | None = None  # the CA the technician (or voucher) expects
    ca_pem: bytes | None = None  # or the CA certificate itself
    intent: str = "enrol"
    voucher: Voucher | None = None  # from a scanned voucher: its signature is checked too
    pinned_ca_fingerprint: str | None = None  # identity.ca_fingerprint (factory pin)


@dataclass(frozen=True)
class TrustTarget:
    root_key: Path | None  # a root pinned in the configuration ([trust] root_key), or None
    trust_list: Path


@dataclass(frozen=True)
class EnrolResult:
    enrolment: Enrolment
    trust_list_version: int
    centre_view: dict[str, Any]
    seconds: float


def _refuse(msg: str, code: str) -> EnrolmentError:
    return EnrolmentError(msg + "; nothing was changed", code)


def check_request(req: EnrolRequest) -> str:
    """Validate the inputs before any I/O; returns the expected CA fingerprint."""
    if not req.central_url.startswith("https://") or len(req.central_url) > 300:
        raise _refuse(f"the centre URL {req.central_url[:80]!r} must be https:// (enrolment "
                      "never runs over plain http)", "bad_input")
    try:
        check_id(req.gate_id, "gate id")
        check_id(req.terminal_id, "terminal id")
    except ValueError as exc:
        raise _refuse(str(exc), "bad_input") from None
    if not req.token or len(req.token) > 200 or any(c.isspace() for c in req.token):
        raise _refuse("the enrolment token is empty or malformed; copy it exactly as the "
                      "centre printed it", "bad_input")
    if req.intent not in INTENTS:
        raise _refuse(f"unknown intent {req.intent!r}", "bad_input")
    expected: str | None = None
    if req.ca_pem is not None:
        try:
            expected = ca_fingerprint(x509.load_pem_x509_certificate(req.ca_pem))
        except ValueError as exc:
            raise _refuse(f"the CA file is not a PEM certificate ({exc})", "bad_input") from None
    if req.ca_fingerprint is not None:
        try:
            fp = normalise_fingerprint(req.ca_fingerprint)
        except ValueError as exc:
            raise _refuse(str(exc), "bad_input") from None
        if expected is not None and fp != expected:
            raise _refuse("the CA file and the CA fingerprint given do not match",
                          "wrong_ca_fingerprint")
        expected = fp
    if expected is None:
        raise _refuse("the centre's CA is not known: give --ca-fingerprint (printed with the "
                      "token) or --ca-file", "bad_input")
    if req.pinned_ca_fingerprint is not None and expected != req.pinned_ca_fingerprint:
        raise _refuse(f"this terminal is pinned to CA {req.pinned_ca_fingerprint[:16]}…, not "
                      f"{expected[:16]}… (identity.ca_fingerprint): a voucher or token from "
                      "another operator", "wrong_ca_fingerprint")
    return expected


async def _fetch_ca(req: EnrolRequest, expected: str, timeout_s: float,
                    transport: httpx.AsyncBaseTransport | None) -> x509.Certificate:
    if req.ca_pem is not None:
        return x509.load_pem_x509_certificate(req.ca_pem)
    async with EstClient(req.central_url, bootstrap_context(), timeout_s=timeout_s,
                         transport=transport) as est:
        offered = await est.cacerts()
    for cert in offered:
        if ca_fingerprint(cert) == expected:
            return cert
    got = ca_fingerprint(offered[0])
    raise _refuse(f"the centre's CA has fingerprint {got[:16]}…, not the expected "
                  f"{expected[:16]}…: wrong centre address or wrong fingerprint",
                  "wrong_ca_fingerprint")


def _key_fp(cert: x509.Certificate) -> str | None:
    pub = cert.public_key()
    return key_fingerprint(pub) if isinstance(pub, ec.EllipticCurvePublicKey) else None


def order_chain(certs: list[x509.Certificate], key_fp: str) -> list[x509.Certificate]:
    """The terminal's certificate first (a PKCS#7 SET OF carries no order)."""
    mine = [c for c in certs if _key_fp(c) == key_fp]
    if not mine:
        raise _refuse("the centre returned a certificate for another key", "bad_certificate")
    return [mine[0], *[c for c in certs if c is not mine[0]]]


def check_issued(chain: list[x509.Certificate], ca: x509.Certificate, *, key_fp: str,
                 terminal_id: str, gate_id: str) -> None:
    """The certificate the centre returned is for OUR key, terminal and gate, by our CA."""
    leaf = chain[0]
    pub = leaf.public_key()
    tid, gate = names_of(leaf)
    if not isinstance(pub, ec.EllipticCurvePublicKey) or key_fingerprint(pub) != key_fp:
        raise _refuse("the centre returned a certificate for another key", "bad_certificate")
    if not issued_by(leaf, ca):
        raise _refuse("the centre returned a certificate not signed by its CA",
                      "bad_certificate")
    if tid != terminal_id or gate != gate_id:
        raise _refuse(f"the centre returned a certificate for terminal {tid!r} / gate "
                      f"{gate!r}, not {terminal_id!r} / {gate_id!r}", "bad_certificate")


def load_trust(root_pem: bytes, list_bytes: bytes, pinned_root: Path | None) -> tuple[Any,
                                                                                      TrustList]:
    try:
        root, _ = parse_public_key(root_pem, "the centre's trust-list root")
    except KeyLoadError as exc:
        raise _refuse(str(exc), "trust_root_invalid") from None
    if pinned_root is not None and pinned_root.exists():
        try:
            pinned, _ = parse_public_key(pinned_root.read_bytes(), str(pinned_root))
        except (OSError, KeyLoadError) as exc:
            raise _refuse(f"the pinned trust root {pinned_root} cannot be read ({exc})",
                          "trust_root_mismatch") from None
        if spki_der(pinned) != spki_der(root):
            raise _refuse(f"the centre hands out another trust-list root than the one pinned "
                          f"in {pinned_root}: a rogue or misconfigured centre",
                          "trust_root_mismatch")
    try:
        tl = TrustList.from_bytes(list_bytes, root)
    except TrustListError as exc:
        raise _refuse(f"the centre's trust list does not verify under its root ({exc})",
                      "trust_list_invalid") from None
    return root, tl


async def enrol(req: EnrolRequest, store: IdentityStore, trust: TrustTarget, *,
                timeout_s: float = 10.0,
                transport: httpx.AsyncBaseTransport | None = None) -> EnrolResult:
    t0 = time.monotonic()
    expected = check_request(req)
    ca = await _fetch_ca(req, expected, timeout_s, transport)
    if req.voucher is not None:
        req.voucher.verify(ca.public_key())
    ca_pem = pem(ca)
    key = store.load_key()
    if key is None:
        key = generate_key()  # written only when the enrolment commits
    key_fp = key_fingerprint(key.public_key())
    csr = build_csr(key, terminal_id=req.terminal_id, gate_id=req.gate_id)
    async with EstClient(req.central_url, pinned_context(ca_pem), timeout_s=timeout_s,
                         transport=transport, terminal_id=req.terminal_id) as est:
        chain = order_chain(await est.simpleenroll(csr, req.token, req.intent), key_fp)
    check_issued(chain, ca, key_fp=key_fp, terminal_id=req.terminal_id, gate_id=req.gate_id)
    if all(ca_fingerprint(c) != expected for c in chain):
        chain = [*chain, ca]
    chain_pem = b"".join(pem(c) for c in chain)

    # Mutual TLS with the new certificate, from a private staging directory.
    base = store.dir.parent  # the state directory: private to the service user
    created = not base.exists()
    base.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        staging = Path(tempfile.mkdtemp(prefix=".enrol-", dir=base))
        try:
            make_private_dir(staging)
            atomic_write(staging / "key.pem", private_pem(key), mode=0o600)
            atomic_write(staging / "cert.pem", chain_pem, mode=0o600)
            ctx = pinned_context(ca_pem, staging / "cert.pem", staging / "key.pem")
            async with EstClient(req.central_url, ctx, timeout_s=timeout_s,
                                 transport=transport, terminal_id=req.terminal_id) as mtls:
                root_pem = await mtls.trust_root()
                list_bytes = await mtls.trust_list()
                centre_view = await mtls.identity()
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        root, tl = load_trust(root_pem, list_bytes, trust.root_key)
    except BaseException:
        if created:  # refused: leave no trace, not even the state directory
            with contextlib.suppress(OSError):
                base.rmdir()
        raise
    root_pem = root.public_bytes(serialization.Encoding.PEM,
                                 serialization.PublicFormat.SubjectPublicKeyInfo)

    # Commit: from here on the terminal changes (each step atomic; identity last but one).
    if trust.root_key is not None and not trust.root_key.exists():
        try:
            trust.root_key.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(trust.root_key, root_pem)
        except OSError as exc:
            raise _refuse(f"cannot write the trust root to {trust.root_key} ({exc}); run as "
                          "the service user or root", "io") from None
    enrolment = store.commit(key=key, chain=chain, ca=ca, root_pem=root_pem,
                             terminal_id=req.terminal_id, gate_id=req.gate_id,
                             central_url=req.central_url.rstrip("/"), ca_fp=expected)
    installed = TrustStore(trust.trust_list, root)
    with contextlib.suppress(TrustListError):  # an equal or newer list is installed: keep it
        installed.load()
    if installed.current is None or installed.current.version < tl.version:
        installed.install(list_bytes)
    version = installed.current.version if installed.current is not None else tl.version
    return EnrolResult(enrolment, version, centre_view, time.monotonic() - t0)
