"""The terminal's side of the EST-shaped exchanges (RFC 7030 where it fits), over httpx.

    ctx = pinned_context(ca_pem)                          # exactly this CA, hostname checked
    async with EstClient(url, ctx) as est:
        chain = await est.simpleenroll(csr, token)        # base64 PKCS#10 -> PKCS#7 certs

``cacerts`` is the one call made before the CA is known (RFC 7030 §4.1.1 bootstrap): its
answer is trusted only after its SHA-256 matches the fingerprint the technician brought.
Every failure becomes an ``EnrolmentError`` with a code and the one line to show.
"""

from __future__ import annotations

import base64
import binascii
import json
import ssl
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs7

from device.errors import EnrolmentError

EST_PREFIX = "/.well-known/est"
CACERTS = EST_PREFIX + "/cacerts"
SIMPLEENROLL = EST_PREFIX + "/simpleenroll"
SIMPLEREENROLL = EST_PREFIX + "/simplereenroll"
TRUST_ROOT = "/v1/trust-root"
TRUST_LIST = "/v1/trust-list"
IDENTITY = "/v1/identity"
RETIRE = "/v1/retire/receipt"
MAX_ANSWER_BYTES = 4 * 2**20

#: What the terminal says for each refusal code of the centre (docs/central-api.md).
REFUSALS: dict[str, str] = {
    "token_missing": "no enrolment token was sent; give --token (or scan a voucher)",
    "token_unknown": "the centre does not know this enrolment token (mistyped, or minted by "
                     "another centre); check it or mint a new one",
    "token_used": "the enrolment token was already used (tokens are one-time); mint a new one",
    "token_expired": "the enrolment token has expired (tokens live 10 minutes); mint a new one",
    "token_wrong_gate": "the enrolment token is for another gate ({detail}); use the token "
                        "minted for this gate, or check --gate",
    "terminal_mismatch": "the enrolment token was minted for another terminal ({detail}); "
                         "mint one for this terminal",
    "key_mismatch": "the centre refused the request: its key is not this terminal's key "
                    "({detail}); scan this terminal's own screen QR and mint again",
    "csr_invalid": "the centre refused the certificate request ({detail})",
    "pop_failed": "the certificate request is not signed by its own key (proof of possession "
                  "failed); the terminal key may be damaged: re-run enrolment",
    "gate_taken": "{detail}; to take the gate over run: scangate provision replace ...",
    "subject_mismatch": "the renewal request names another terminal than the certificate "
                        "({detail})",
    "revoked": "the centre has revoked this terminal's certificate; re-enrol it with a new "
               "token (docs/provisioning.md)",
    "no_identity": "the centre wants a client certificate and got none; enrol the terminal",
    "records_missing": "the centre does not hold every record yet ({detail})",
    "bad_signature": "the centre could not verify this terminal's signature ({detail})",
}


def bootstrap_context() -> ssl.SSLContext:
    """TLS WITHOUT server verification, for ``cacerts`` only: its answer is accepted only
    when its fingerprint matches the expected one, and every later call pins that CA."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def pinned_context(ca_pem: bytes, cert_path: Any = None, key_path: Any = None) -> ssl.SSLContext:
    """Trust exactly ``ca_pem`` (not the system store), hostname checked; optionally present
    the terminal's certificate (mutual TLS)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cadata=ca_pem.decode("ascii"))
        if cert_path is not None:
            ctx.load_cert_chain(str(cert_path), str(key_path))
    except (ssl.SSLError, ValueError, OSError) as exc:
        raise EnrolmentError(f"cannot set up TLS with the centre's CA or this terminal's "
                             f"certificate ({exc}); re-run enrolment", "tls_setup") from exc
    return ctx


def csr_body(csr: x509.CertificateSigningRequest) -> bytes:
    """base64 (RFC 2045 lines) of the DER PKCS#10, as RFC 7030 §4.2.1 sends it."""
    return base64.encodebytes(csr.public_bytes(serialization.Encoding.DER))


def parse_certs_only(body: bytes, what: str) -> list[x509.Certificate]:
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
        certs = pkcs7.load_der_pkcs7_certificates(der)
    except (ValueError, binascii.Error) as exc:
        raise EnrolmentError(f"the centre's {what} answer is not a base64 PKCS#7 certificate "
                             f"list ({exc}); is the URL a scangate centre?",
                             "bad_answer") from exc
    if not certs:
        raise EnrolmentError(f"the centre's {what} answer holds no certificate", "bad_answer")
    return list(certs)


def _kind(exc: BaseException) -> str:
    from device.uplink.client import error_kind

    return error_kind(exc)


class EstClient:
    """One httpx.AsyncClient to the centre with a fixed TLS context."""

    def __init__(self, base_url: str, ctx: ssl.SSLContext, *, timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None,
                 terminal_id: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.pinned = ctx.verify_mode == ssl.CERT_REQUIRED
        headers = {"User-Agent": "scangate-terminal"}
        if terminal_id:
            headers["X-Scangate-Terminal"] = terminal_id
        self._http = httpx.AsyncClient(base_url=self.base_url, verify=ctx, transport=transport,
                                       timeout=httpx.Timeout(timeout_s), headers=headers,
                                       follow_redirects=False)

    async def __aenter__(self) -> EstClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            response = await self._http.request(method, path, **kw)
        except httpx.HTTPError as exc:
            kind = _kind(exc)
            where = f"{self.base_url}{path}"
            if kind == "tls" and self.pinned:
                raise EnrolmentError(
                    f"the centre at {self.base_url} presented a certificate that is not signed "
                    "by the pinned CA: wrong address or a man in the middle; nothing was "
                    "changed", "pin_mismatch") from exc
            if kind == "tls":
                raise EnrolmentError(f"TLS with {where} failed ({exc}); check the URL",
                                     "tls") from exc
            raise EnrolmentError(f"cannot reach the centre at {where} ({kind}: {exc}); check "
                                 "the network and the URL, then try again",
                                 "unreachable") from exc
        if len(response.content) > MAX_ANSWER_BYTES:
            raise EnrolmentError(f"the centre's answer to {path} is too large", "bad_answer")
        if not 200 <= response.status_code < 300:
            raise self._refusal(response, path)
        return response

    @staticmethod
    def _refusal(response: httpx.Response, path: str) -> EnrolmentError:
        code, detail = "refused", ""
        try:
            doc = json.loads(response.content)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if isinstance(doc, dict):
            code = str(doc.get("code") or code)[:40]
            detail = str(doc.get("error") or "")[:200]
        template = REFUSALS.get(code)
        if template is not None:
            msg = template.format(detail=detail or "no detail")
        else:
            msg = (f"the centre refused {path} with HTTP {response.status_code}"
                   f"{': ' + detail if detail else ''}")
        return EnrolmentError(msg + ("" if code == "revoked" else "; nothing was changed"),
                              code)

    async def cacerts(self) -> list[x509.Certificate]:
        r = await self._call("GET", CACERTS)
        return parse_certs_only(r.content, "cacerts")

    async def simpleenroll(self, csr: x509.CertificateSigningRequest, token: str,
                           intent: str = "enrol") -> list[x509.Certificate]:
        r = await self._call("POST", SIMPLEENROLL, content=csr_body(csr), headers={
            "Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64",
            "Authorization": f"Bearer {token}", "X-Scangate-Intent": intent})
        return parse_certs_only(r.content, "simpleenroll")

    async def simplereenroll(self, csr: x509.CertificateSigningRequest) -> list[
            x509.Certificate]:
        r = await self._call("POST", SIMPLEREENROLL, content=csr_body(csr), headers={
            "Content-Type": "application/pkcs10", "Content-Transfer-Encoding": "base64"})
        return parse_certs_only(r.content, "simplereenroll")

    async def trust_root(self) -> bytes:
        return (await self._call("GET", TRUST_ROOT)).content

    async def trust_list(self) -> bytes:
        return (await self._call("GET", TRUST_LIST)).content

    async def retire_receipt(self, claim: dict[str, Any], signature: str) -> dict[str, Any]:
        """POST /v1/retire/receipt: the centre's countersigned receipt (docs/central-api.md)."""
        r = await self._call("POST", RETIRE, content=json.dumps(
            {"claim": claim, "signature": signature}, sort_keys=True).encode(),
            headers={"Content-Type": "application/json"})
        try:
            doc = json.loads(r.content)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict) or not isinstance(doc.get("receipt"), dict):
            raise EnrolmentError("the centre's retire answer holds no receipt", "bad_answer")
        return dict(doc["receipt"])

    async def identity(self) -> dict[str, Any]:
        r = await self._call("GET", IDENTITY)
        try:
            doc = json.loads(r.content)
        except (ValueError, UnicodeDecodeError):
            doc = None
        if not isinstance(doc, dict):
            raise EnrolmentError("the centre's /v1/identity answer is not JSON", "bad_answer")
        return doc
