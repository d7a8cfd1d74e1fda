"""The stand-in centre's provisioning endpoints and client-certificate checks.

EST (RFC 7030) shapes: ``GET /.well-known/est/cacerts``, ``POST .../simpleenroll`` (one-time
token), ``POST .../simplereenroll`` (current certificate); plus ``GET /v1/trust-root``,
``GET /v1/identity`` and ``POST /v1/retire/receipt`` (docs/central-api.md).

The server's TLS context requests a client certificate and verifies any that is sent
against the centre's CA (``CentralCA.server_context``). ``identify`` then decides per
endpoint: enrolment and ``cacerts`` need no identity (the token is the credential);
every other endpoint needs a certificate this centre issued and has not revoked (403
``revoked``), or — migration only — a configured bearer token.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from device.identity.certs import names_of
from sim.central.pki import Refusal

if TYPE_CHECKING:
    from sim.central.faults import Fault

ROUTES = {
    ("GET", "/.well-known/est/cacerts"): "cacerts",
    ("POST", "/.well-known/est/simpleenroll"): "enrolment",
    ("POST", "/.well-known/est/simplereenroll"): "reenrolment",
    ("GET", "/v1/trust-root"): "trust-root",
    ("GET", "/v1/identity"): "identity",
    ("POST", "/v1/retire/receipt"): "retire",
}
#: No client certificate needed: the CA itself, and enrolment (its token is the credential).
OPEN_ENDPOINTS = frozenset({"cacerts", "enrolment"})
#: A revoked certificate may still retire its terminal (hand in the records, get a receipt).
REVOKED_ALLOWED = frozenset({"retire"})
PKCS7_TYPE = "application/pkcs7-mime; smime-type=certs-only"
MAX_CSR_BYTES = 64 * 1024


def peer_certificate(handler: Any) -> x509.Certificate | None:
    """The client certificate of this connection, already verified by the TLS layer."""
    getpeercert = getattr(handler.connection, "getpeercert", None)
    if getpeercert is None:
        return None
    der = getpeercert(binary_form=True)
    if not der:
        return None
    return x509.load_der_x509_certificate(der)


def identify(handler: Any, central: Any, endpoint: str) -> tuple[bool, str | None]:
    """(go on?, terminal id). When it returns False an answer was sent already."""
    prov = central.provisioning
    cert = peer_certificate(handler)
    handler._peer = cert
    if cert is not None:
        status = prov.status(cert)
        tid, _ = names_of(cert)
        if status is None or tid is None:
            handler._json(401, {"error": "unknown client certificate", "code": "no_identity"})
            return False, None
        if status == "revoked" and endpoint not in REVOKED_ALLOWED:
            handler._json(403, {"error": "this terminal's certificate is revoked",
                                "code": "revoked"})
            return False, tid
        return True, tid
    if endpoint in OPEN_ENDPOINTS:
        return True, None
    if central.tokens:  # migration: a terminal without a certificate yet
        authed = central.authenticate(handler.headers.get("Authorization"))
        if isinstance(authed, str):
            return True, authed
    if not central.require_identity:
        return True, None
    handler._json(401, {"error": "a client certificate is required", "code": "no_identity"},
                  headers={"WWW-Authenticate": "Bearer"} if central.tokens else None)
    return False, None


def _certs_only(certs: list[x509.Certificate]) -> bytes:
    der = pkcs7.serialize_certificates(certs, serialization.Encoding.DER)
    return base64.encodebytes(der)


def _send_certs(handler: Any, certs: list[x509.Certificate], fault: Fault | None) -> None:
    handler._finish_with_fault(fault, 200, _certs_only(certs),
                               {"Content-Type": PKCS7_TYPE,
                                "Content-Transfer-Encoding": "base64"})


def _csr_der(handler: Any) -> bytes:
    raw = handler._read_body(MAX_CSR_BYTES)
    try:
        return base64.b64decode(b"".join(raw.split()), validate=True)
    except (binascii.Error, ValueError):
        raise Refusal(400, "csr_invalid", "the body must be a base64 DER PKCS#10 "
                      "request") from None


def _refused(handler: Any, exc: Refusal) -> None:
    handler._central().metrics.count(f"provisioning_refused_{exc.code}")
    handler._json(exc.status, exc.body())


def ep_cacerts(handler: Any, terminal: str, fault: Fault | None) -> None:
    _send_certs(handler, [handler._central().provisioning.ca.cert], fault)


def ep_enrolment(handler: Any, terminal: str, fault: Fault | None) -> None:
    prov = handler._central().provisioning
    try:
        der = _csr_der(handler)
        auth = handler.headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or not auth[7:].strip():
            raise Refusal(401, "token_missing", "an enrolment token is required "
                          "(Authorization: Bearer <token>)")
        intent = handler.headers.get("X-Scangate-Intent", "enrol")
        chain = prov.enrol(auth[7:].strip(), der, intent)
    except Refusal as exc:
        _refused(handler, exc)
        return
    handler._central().metrics.count("provisioning_enrolled")
    _send_certs(handler, chain, fault)


def ep_reenrolment(handler: Any, terminal: str, fault: Fault | None) -> None:
    prov = handler._central().provisioning
    try:
        der = _csr_der(handler)
        chain = prov.reenrol(handler._peer, der)
    except Refusal as exc:
        _refused(handler, exc)
        return
    handler._central().metrics.count("provisioning_renewed")
    _send_certs(handler, chain, fault)


def ep_trust_root(handler: Any, terminal: str, fault: Fault | None) -> None:
    data = handler._central().trust_root()
    if data is None:
        handler._json(404, {"error": "no trust root configured at this centre"})
        return
    handler._finish_with_fault(fault, 200, data, {"Content-Type": "application/x-pem-file"})


def ep_identity(handler: Any, terminal: str, fault: Fault | None) -> None:
    cert = handler._peer
    if cert is None:
        handler._json(401, {"error": "a client certificate is required",
                            "code": "no_identity"})
        return
    body = json.dumps(handler._central().provisioning.identity(cert), sort_keys=True)
    handler._finish_with_fault(fault, 200, body.encode())


def ep_retire(handler: Any, terminal: str, fault: Fault | None) -> None:
    prov = handler._central().provisioning
    raw = handler._read_body(4 * 2**20)
    if handler._peer is None:
        handler._json(401, {"error": "a client certificate is required", "code": "no_identity"})
        return
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
        receipt = prov.receipt(doc.get("claim"), doc.get("signature"), handler._peer)
    except (ValueError, UnicodeDecodeError):
        handler._json(400, {"error": "body must be a JSON object", "code": "bad_claim"})
        return
    except Refusal as exc:
        _refused(handler, exc)
        return
    handler._central().metrics.count("provisioning_retired")
    handler._finish_with_fault(fault, 200, json.dumps({"receipt": receipt},
                                                      sort_keys=True).encode())


HANDLERS = {
    "cacerts": ep_cacerts,
    "enrolment": ep_enrolment,
    "reenrolment": ep_reenrolment,
    "trust-root": ep_trust_root,
    "identity": ep_identity,
    "retire": ep_retire,
}
