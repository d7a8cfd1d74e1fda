"""Demo keys: a root key, an issuer key and a trust list signed by the root.

Layout of the directory written by :func:`make_demo_keys` (``scangate sim keys DIR``):
``root.key`` / ``root.pub.pem`` (the operator's root; the public half is what a terminal
pins), ``issuer.key`` / ``issuer.pub.pem`` (signs our codes), ``trust-list.cose``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from device.errors import KeyLoadError
from device.verify import keys
from device.verify.trustlist import SignerKey, TrustList, load_root_key
from device.verify.trustlist import sign_trust_list as _sign
from sim.errors import SimError
from sim.issuer import DEFAULT_ISS, Issuer

ROOT_PRIVATE = "root.key"
ROOT_PUBLIC = "root.pub.pem"
ISSUER_PRIVATE = "issuer.key"
ISSUER_PUBLIC = "issuer.pub.pem"
TRUST_LIST = "trust-list.cose"
DEFAULT_VALID_DAYS = 30


def sign_trust_list(root_private_key: Any, version: int, issued_at: float, expires_at: float,
                    keys: Iterable[SignerKey], revoked: Iterable[str] = ()) -> bytes:
    """A trust list signed by ``root_private_key`` (see docs/trust-list.md)."""
    return _sign(root_private_key, version, issued_at, expires_at, keys, revoked)


@dataclass(frozen=True)
class DemoKeys:
    dir: Path
    root_private: Path
    root_public: Path
    issuer_private: Path
    issuer_public: Path
    trust_list: Path
    iss: str = DEFAULT_ISS

    @classmethod
    def at(cls, directory: Path | str, iss: str = DEFAULT_ISS) -> DemoKeys:
        d = Path(directory)
        return cls(d, d / ROOT_PRIVATE, d / ROOT_PUBLIC, d / ISSUER_PRIVATE, d / ISSUER_PUBLIC,
                   d / TRUST_LIST, iss)

    @classmethod
    def open(cls, directory: Path | str) -> DemoKeys:
        """Existing demo keys; SimError with what to run if they are missing."""
        dk = cls.at(directory)
        missing = [p.name for p in (dk.root_private, dk.issuer_private, dk.trust_list)
                   if not p.exists()]
        if missing:
            raise SimError(f"no demo keys in {dk.dir} (missing {', '.join(missing)}): "
                           f"run `scangate sim keys {dk.dir}` first")
        return dk

    def _load(self, path: Path) -> Any:
        try:
            return keys.load_private_key(path)
        except KeyLoadError as exc:
            raise SimError(str(exc)) from exc

    def root_private_key(self) -> Any:
        return self._load(self.root_private)

    def root_public_key(self) -> keys.PublicKey:
        return load_root_key(self.root_public)

    def issuer_private_key(self) -> Any:
        return self._load(self.issuer_private)

    def issuer(self) -> Issuer:
        return Issuer(self.issuer_private_key(), iss=self.iss)

    def signer_key(self) -> SignerKey:
        return SignerKey.from_public_key(self.issuer_private_key().public_key(),
                                         profiles={"scangate"}, label=f"{self.iss} issuer")

    def load_trust_list(self) -> TrustList:
        return TrustList.from_bytes(self.trust_list.read_bytes(), self.root_public_key())

    def write_trust_list(self, version: int, *, issued_at: float | None = None,
                         valid_days: float = DEFAULT_VALID_DAYS,
                         extra_keys: Iterable[SignerKey] = (),
                         revoked: Iterable[str] = (), path: Path | None = None) -> bytes:
        """Sign a new list (issuer key + ``extra_keys``) and write it; returns its bytes."""
        t = time.time() if issued_at is None else issued_at
        data = sign_trust_list(self.root_private_key(), version, t, t + valid_days * 86400,
                               [self.signer_key(), *extra_keys], revoked)
        _write(path or self.trust_list, data, 0o644)
        return data


def _write(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def make_demo_keys(dir: Path | str, *, now: float | None = None,
                   valid_days: float = DEFAULT_VALID_DAYS, iss: str = DEFAULT_ISS) -> DemoKeys:
    """Write fresh demo keys and a version-1 trust list into ``dir`` (created if needed)."""
    dk = DemoKeys.at(dir, iss)
    try:
        dk.dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SimError(f"cannot create {dk.dir}: {exc}") from exc
    root = ec.generate_private_key(ec.SECP256R1())
    issuer = ec.generate_private_key(ec.SECP256R1())
    _write(dk.root_private, keys.private_key_pem(root), 0o600)
    _write(dk.root_public, keys.public_key_pem(root.public_key()), 0o644)
    _write(dk.issuer_private, keys.private_key_pem(issuer), 0o600)
    _write(dk.issuer_public, keys.public_key_pem(issuer.public_key()), 0o644)
    dk.write_trust_list(1, issued_at=now, valid_days=valid_days)
    return dk
