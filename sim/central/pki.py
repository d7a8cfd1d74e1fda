"""The stand-in centre's provisioning: enrolment tokens, certificates, gates, revocation,
retire receipts and bundle import — over the same SQLite file as the records.

    prov = Provisioning(db_path, CentralCA.open_or_create(dir))
    minted = prov.mint_token("xa-l2-g07")                  # one-time, 10 minutes
    chain = prov.enrol(minted.token, csr_der, "enrol")     # or raises Refusal(status, code)
    prov.revoke("t-17")

Tokens are stored as their SHA-256 only. Every refusal is a ``Refusal`` carrying the HTTP
status and the code of docs/central-api.md; nothing is changed by a refused request.
"""

from __future__ import annotations

import base64
import binascii
import gzip
import hashlib
import json
import secrets
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from device.enrol.voucher import encode_voucher
from device.identity.certs import (
    check_id,
    issued_by,
    key_fingerprint,
    names_of,
    normalise_fingerprint,
)
from device.journal.export import RECORD_FIELDS, canonical, digest_records
from sim.central.ca import CentralCA
from sim.central.store import COLUMNS
from sim.errors import SimError

TOKEN_TTL_S = 600.0
CERT_LIFETIME_S = 30 * 86400.0
BUNDLE_FORMAT = "scangate-retire-bundle/1"
MAX_BUNDLE_BYTES = 512 * 2**20

SCHEMA = """
CREATE TABLE IF NOT EXISTS enrol_tokens (
    token_sha256 TEXT PRIMARY KEY,
    gate_id TEXT NOT NULL,
    terminal_id TEXT,
    key_sha256 TEXT,
    nonce TEXT,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    used_at REAL,
    used_by TEXT
);
CREATE TABLE IF NOT EXISTS certificates (
    serial TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    gate_id TEXT NOT NULL,
    key_sha256 TEXT NOT NULL,
    not_before REAL NOT NULL,
    not_after REAL NOT NULL,
    issued_at REAL NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('active', 'revoked')),
    revoked_at REAL,
    revoke_reason TEXT,
    pem TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS certificates_terminal ON certificates(terminal_id);
CREATE TABLE IF NOT EXISTS gates (
    gate_id TEXT PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    since REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS retirements (
    id INTEGER PRIMARY KEY,
    terminal_id TEXT NOT NULL,
    at REAL NOT NULL,
    via TEXT NOT NULL,
    receipt TEXT NOT NULL
);
"""


class Refusal(SimError):
    """A provisioning request refused: HTTP ``status`` and the protocol's ``code``."""

    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": str(self), "code": self.code, **self.extra}


@dataclass(frozen=True)
class MintedToken:
    token: str
    gate_id: str
    expires_at: float
    terminal_id: str | None = None
    key_fingerprint: str | None = None
    nonce: str | None = None


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Provisioning:
    def __init__(self, db_path: Path | str, ca: CentralCA, *,
                 cert_lifetime_s: float = CERT_LIFETIME_S,
                 clock: Callable[[], float] = time.time) -> None:
        self.ca = ca
        self.cert_lifetime_s = cert_lifetime_s
        self.clock = clock
        self._lock = threading.Lock()
        self._db = sqlite3.connect(str(db_path), check_same_thread=False, isolation_level=None,
                                   timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    # -- tokens and vouchers ---------------------------------------------------------------
    def mint_token(self, gate_id: str, *, ttl_s: float = TOKEN_TTL_S,
                   terminal_id: str | None = None, key_fingerprint: str | None = None,
                   nonce: str | None = None) -> MintedToken:
        try:
            check_id(gate_id, "gate id")
            if terminal_id is not None:
                check_id(terminal_id, "terminal id")
            kfp = normalise_fingerprint(key_fingerprint) if key_fingerprint else None
        except ValueError as exc:
            raise SimError(str(exc)) from None
        if not 1 <= ttl_s <= 7 * 86400:
            raise SimError(f"token lifetime {ttl_s:g} s: must be 1 s .. 7 days")
        # A fixed prefix: recognisable in a leak scan, and never starts with '-' (which a
        # command line would take for an option: `--token -abc...` failed one run in ~40).
        token = "sgt_" + secrets.token_urlsafe(18)
        now = self.clock()
        with self._tx() as db:
            db.execute("INSERT INTO enrol_tokens (token_sha256, gate_id, terminal_id, "
                       "key_sha256, nonce, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                       (_sha(token), gate_id, terminal_id, kfp, nonce, now, now + ttl_s))
        return MintedToken(token, gate_id, now + ttl_s, terminal_id, kfp, nonce)

    def voucher(self, minted: MintedToken, url: str) -> str:
        """The signed voucher text for a minted token (docs/central-api.md)."""
        return encode_voucher({"url": url.rstrip("/"), "tok": minted.token,
                               "gate": minted.gate_id, "ca": self.ca.fingerprint,
                               "tid": minted.terminal_id, "kfp": minted.key_fingerprint,
                               "n": minted.nonce, "exp": int(minted.expires_at)},
                              self.ca.sign_raw)

    # -- enrolment ---------------------------------------------------------------------------
    @staticmethod
    def _csr(csr_der: bytes) -> x509.CertificateSigningRequest:
        try:
            csr = x509.load_der_x509_csr(csr_der)
        except ValueError as exc:
            raise Refusal(400, "csr_invalid", f"not a DER PKCS#10 request: {exc}") from None
        pub = csr.public_key()
        if not isinstance(pub, ec.EllipticCurvePublicKey) or not isinstance(pub.curve,
                                                                            ec.SECP256R1):
            raise Refusal(400, "csr_invalid", "the request's key is not P-256")
        if not csr.is_signature_valid:
            raise Refusal(400, "pop_failed", "the request's signature does not verify with "
                                             "its own key")
        return csr

    def enrol(self, token: str, csr_der: bytes, intent: str = "enrol") -> list[
            x509.Certificate]:
        now = self.clock()
        with self._lock:
            row = self._db.execute(
                "SELECT gate_id, terminal_id, key_sha256, expires_at, used_at FROM "
                "enrol_tokens WHERE token_sha256 = ?", (_sha(token),)).fetchone()
        if row is None:
            raise Refusal(401, "token_unknown", "unknown enrolment token")
        gate_id, bound_tid, bound_key, expires_at, used_at = row
        if used_at is not None:
            raise Refusal(401, "token_used", "this enrolment token was used already")
        if now > expires_at:
            raise Refusal(401, "token_expired", "this enrolment token has expired "
                          f"({now - expires_at:.0f} s ago)")
        csr = self._csr(csr_der)
        tid, gate = names_of(csr)
        if tid is None or gate is None:
            raise Refusal(400, "csr_invalid", "the request must carry CN=<terminal id> and a "
                          "urn:scangate:gate: subjectAltName")
        try:
            check_id(tid, "terminal id")
            check_id(gate, "gate id")
        except ValueError as exc:
            raise Refusal(400, "csr_invalid", str(exc)) from None
        if gate != gate_id:
            raise Refusal(403, "token_wrong_gate",
                          f"the token is for gate {gate_id}, the request names gate {gate}")
        if bound_tid is not None and bound_tid != tid:
            raise Refusal(403, "terminal_mismatch",
                          f"the token is for terminal {bound_tid}, the request is from {tid}")
        pub = csr.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        kfp = key_fingerprint(pub)
        if bound_key is not None and bound_key != kfp:
            raise Refusal(403, "key_mismatch",
                          f"the token is bound to key {bound_key[:16]}…, the request carries "
                          f"key {kfp[:16]}…")
        if intent not in ("enrol", "replace"):
            raise Refusal(400, "csr_invalid", f"unknown X-Scangate-Intent {intent!r}")
        cert = self.ca.issue(csr, terminal_id=tid, gate_id=gate,
                             lifetime_s=self.cert_lifetime_s)
        with self._tx() as db:
            holder = db.execute("SELECT terminal_id FROM gates WHERE gate_id = ?",
                                (gate,)).fetchone()
            if holder is not None and holder[0] != tid and self._active(db, holder[0]):
                if intent != "replace":
                    raise Refusal(409, "gate_taken", f"gate {gate} is held by terminal "
                                  f"{holder[0]}")
                self._revoke(db, holder[0], f"replaced by {tid}", now)
            done = db.execute("UPDATE enrol_tokens SET used_at = ?, used_by = ? WHERE "
                              "token_sha256 = ? AND used_at IS NULL", (now, tid, _sha(token)))
            if done.rowcount != 1:
                raise Refusal(401, "token_used", "this enrolment token was used already")
            self._revoke(db, tid, "re-enrolled", now)  # a terminal has one enrolment
            db.execute("DELETE FROM gates WHERE terminal_id = ?", (tid,))
            db.execute("INSERT OR REPLACE INTO gates (gate_id, terminal_id, since) VALUES "
                       "(?, ?, ?)", (gate, tid, now))
            self._insert_cert(db, cert, tid, gate, kfp, "enrol", now)
        return [cert, self.ca.cert]

    def reenrol(self, peer: x509.Certificate, csr_der: bytes) -> list[x509.Certificate]:
        """simplereenroll: ``peer`` is the verified client certificate of the connection."""
        status = self.status(peer)
        if status != "active":
            raise Refusal(403 if status == "revoked" else 401,
                          "revoked" if status == "revoked" else "no_identity",
                          "this certificate is revoked" if status == "revoked"
                          else "unknown certificate")
        csr = self._csr(csr_der)
        if names_of(csr) != names_of(peer):
            raise Refusal(400, "subject_mismatch", f"the request names {names_of(csr)}, the "
                          f"certificate {names_of(peer)}")
        tid, gate = names_of(peer)
        assert tid is not None and gate is not None
        pub = csr.public_key()
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        cert = self.ca.issue(csr, terminal_id=tid, gate_id=gate,
                             lifetime_s=self.cert_lifetime_s)
        with self._tx() as db:
            self._insert_cert(db, cert, tid, gate, key_fingerprint(pub), "renew", self.clock())
        return [cert, self.ca.cert]

    @staticmethod
    def _active(db: sqlite3.Connection, terminal_id: str) -> bool:
        return db.execute("SELECT 1 FROM certificates WHERE terminal_id = ? AND status = "
                          "'active' LIMIT 1", (terminal_id,)).fetchone() is not None

    @staticmethod
    def _revoke(db: sqlite3.Connection, terminal_id: str, reason: str, now: float) -> int:
        cur = db.execute("UPDATE certificates SET status = 'revoked', revoked_at = ?, "
                         "revoke_reason = ? WHERE terminal_id = ? AND status = 'active'",
                         (now, reason, terminal_id))
        return cur.rowcount

    @staticmethod
    def _insert_cert(db: sqlite3.Connection, cert: x509.Certificate, tid: str, gate: str,
                     kfp: str, kind: str, now: float) -> None:
        db.execute(
            "INSERT INTO certificates (serial, terminal_id, gate_id, key_sha256, not_before, "
            "not_after, issued_at, kind, status, pem) VALUES (?, ?, ?, ?, ?, ?, ?, ?, "
            "'active', ?)",
            (format(cert.serial_number, "x"), tid, gate, kfp,
             cert.not_valid_before_utc.timestamp(), cert.not_valid_after_utc.timestamp(), now,
             kind, cert.public_bytes(serialization.Encoding.PEM).decode()))

    # -- identity, revocation -------------------------------------------------------------
    def status(self, cert: x509.Certificate) -> str | None:
        """'active', 'revoked', or None for a certificate this centre never issued."""
        with self._lock:
            row = self._db.execute("SELECT status FROM certificates WHERE serial = ?",
                                   (format(cert.serial_number, "x"),)).fetchone()
        return str(row[0]) if row else None

    def identity(self, cert: x509.Certificate) -> dict[str, Any]:
        tid, gate = names_of(cert)
        return {"terminal_id": tid, "gate_id": gate, "serial": format(cert.serial_number, "x"),
                "status": self.status(cert), "not_after": cert.not_valid_after_utc.timestamp()}

    def revoke(self, terminal_id: str, reason: str = "revoked") -> int:
        with self._tx() as db:
            n = self._revoke(db, terminal_id, reason, self.clock())
        return n

    def gate_holder(self, gate_id: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT terminal_id FROM gates WHERE gate_id = ?",
                                   (gate_id,)).fetchone()
        return str(row[0]) if row else None

    def certificates(self, terminal_id: str | None = None) -> list[dict[str, Any]]:
        sql = ("SELECT serial, terminal_id, gate_id, status, revoke_reason, kind, not_after "
               "FROM certificates")
        args: tuple[str, ...] = ()
        if terminal_id is not None:
            sql += " WHERE terminal_id = ?"
            args = (terminal_id,)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY issued_at", args).fetchall()
        keys = ("serial", "terminal_id", "gate_id", "status", "revoke_reason", "kind",
                "not_after")
        return [dict(zip(keys, r, strict=True)) for r in rows]

    # -- retire --------------------------------------------------------------------------------
    def _verify_claim(self, claim: Any, signature_b64: Any, cert: x509.Certificate) -> bytes:
        if not isinstance(claim, dict) or not isinstance(signature_b64, str):
            raise Refusal(400, "bad_claim", "expected {'claim': {...}, 'signature': '<b64>'}")
        for k in ("terminal_id", "first_seq", "last_seq", "count", "digest"):
            if k not in claim:
                raise Refusal(400, "bad_claim", f"claim without {k!r}")
        tid, _ = names_of(cert)
        if claim["terminal_id"] != tid:
            raise Refusal(403, "bad_claim", f"the claim is for {claim['terminal_id']!r}, the "
                          f"certificate for {tid!r}")
        try:
            sig = base64.b64decode(signature_b64, validate=True)
            pub = cert.public_key()
            assert isinstance(pub, ec.EllipticCurvePublicKey)
            pub.verify(sig, canonical(claim), ec.ECDSA(hashes.SHA256()))
        except (binascii.Error, ValueError, InvalidSignature, AssertionError):
            raise Refusal(400, "bad_signature", "the claim's signature does not verify with "
                          "the terminal's certificate") from None
        return sig

    def _held(self, terminal_id: str, first: int | None, last: int) -> Any:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {', '.join(RECORD_FIELDS)} FROM records WHERE terminal_id = ? AND "
                "seq >= ? AND seq <= ? ORDER BY seq",
                (terminal_id, first if first is not None else 1, last)).fetchall()
        return digest_records(dict(zip(RECORD_FIELDS, r, strict=True)) for r in rows)

    def receipt(self, claim: Any, signature_b64: Any, cert: x509.Certificate,
                via: str = "online") -> dict[str, Any]:
        """Countersign a retire claim once every claimed record is held here."""
        self._verify_claim(claim, signature_b64, cert)
        count = claim["count"]
        if count == 0:
            held = digest_records([])
        else:
            held = self._held(claim["terminal_id"], claim["first_seq"], claim["last_seq"])
        if held.digest != claim["digest"] or held.count != count:
            raise Refusal(409, "records_missing", f"the centre holds {held.count} of the "
                          f"{count} records claimed (or different ones); upload them or "
                          "import the retire bundle", missing=max(0, count - held.count))
        body = {"claim": claim, "terminal_signature": signature_b64,
                "centre_time": self.clock(), "records_held": held.count,
                "ca_fingerprint": self.ca.fingerprint}
        receipt = {**body, "centre_signature": _b64(self.ca.sign_der(canonical(body)))}
        with self._tx() as db:
            db.execute("INSERT INTO retirements (terminal_id, at, via, receipt) VALUES "
                       "(?, ?, ?, ?)", (claim["terminal_id"], self.clock(), via,
                                        json.dumps(receipt, sort_keys=True)))
        return receipt

    def import_bundle(self, data: bytes) -> dict[str, Any]:
        """Verify a retire bundle (chain to our CA, the terminal's signature, the digest),
        store its records (de-duplicated by record_id) and countersign its claim."""
        if len(data) > MAX_BUNDLE_BYTES:
            raise Refusal(413, "bad_bundle", "bundle too large")
        try:
            raw = gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data
            doc = json.loads(raw)
        except (OSError, EOFError, ValueError, UnicodeDecodeError) as exc:
            raise Refusal(400, "bad_bundle", f"not a retire bundle ({exc})") from None
        if not isinstance(doc, dict) or doc.get("format") != BUNDLE_FORMAT:
            raise Refusal(400, "bad_bundle", f"not a {BUNDLE_FORMAT} file")
        try:
            chain = [x509.load_pem_x509_certificate(p.encode())
                     for p in doc["certificate_chain"]]
            records = doc["records"]
            if not isinstance(records, list) or not chain:
                raise ValueError("empty")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise Refusal(400, "bad_bundle", f"bundle fields malformed ({exc})") from None
        leaf = chain[0]
        if not issued_by(leaf, self.ca.cert):
            raise Refusal(403, "bad_bundle", "the bundle's certificate was not issued by this "
                          "centre's CA")
        if self.status(leaf) is None:
            raise Refusal(403, "bad_bundle", "this centre never issued the bundle's "
                          "certificate")
        claim = doc.get("claim")
        self._verify_claim(claim, doc.get("signature"), leaf)
        assert isinstance(claim, dict)
        tid = claim["terminal_id"]
        try:
            ordered = sorted(records, key=lambda r: int(r["seq"]))
            got = digest_records(ordered)
        except (KeyError, TypeError, ValueError) as exc:
            raise Refusal(400, "bad_bundle", f"bundle records malformed ({exc})") from None
        if got.digest != claim["digest"] or got.count != claim["count"]:
            raise Refusal(400, "bad_bundle", "the bundle's records do not match its signed "
                          "claim (altered or truncated)")
        if any(r.get("terminal_id") != tid for r in ordered):
            raise Refusal(400, "bad_bundle", "the bundle holds records of another terminal")
        key = "bundle:" + hashlib.sha256(raw).hexdigest()[:32]
        now = self.clock()
        rows = [(*tuple(r.get(c) for c in COLUMNS), key, now) for r in ordered]
        with self._tx() as db:
            db.executemany(
                f"INSERT OR IGNORE INTO records ({', '.join(COLUMNS)}, batch_key, received_at) "
                f"VALUES ({', '.join('?' * (len(COLUMNS) + 2))})", rows)
        return self.receipt(claim, doc.get("signature"), leaf, via="bundle")

    def retirements(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT receipt FROM retirements ORDER BY id").fetchall()
        return [json.loads(r[0]) for r in rows]
