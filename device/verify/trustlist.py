"""The signed trust list: signer keys, their profiles and validity, and revoked code ids.

File format (see ``docs/trust-list.md``): a tagged COSE_Sign1 signed by the operator's
root key (ES256), whose payload is a CBOR map with ``format``, ``version``,
``issued_at``, ``expires_at``, ``keys`` and ``revoked``. :class:`TrustStore` installs
a list atomically and refuses rollbacks.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from device.errors import KeyLoadError, TrustListError
from device.files import atomic_write
from device.verify import keys
from device.verify.codecs import cbor, cose

if TYPE_CHECKING:  # imported where used: cryptography.x509 costs ~50 ms at startup
    from cryptography import x509

log = logging.getLogger(__name__)

FORMAT = 1
PROFILES = frozenset({"scangate", "eu-dcc"})
MAX_FILE_BYTES = 16 * 2**20
_MAX_ITEMS = 4_000_000
_MAX_DEPTH = 8


@dataclass(frozen=True, eq=False)
class SignerKey:
    """A key that may sign codes of the given profiles, within its validity.

    ``not_before`` / ``not_after`` (Unix seconds, inclusive; ``None`` = open) bound the
    check time at which the key is trusted. For a key with a ``certificate`` they can only
    narrow the certificate's own validity: a wider value is clamped to it on construction.
    """

    kid: bytes
    public_key: keys.PublicKey
    profiles: frozenset[str]
    not_before: float | None = None
    not_after: float | None = None
    certificate: x509.Certificate | None = None
    label: str = ""

    def __post_init__(self) -> None:
        cert = self.certificate
        if cert is None:
            return
        nb = cert.not_valid_before_utc.timestamp()
        na = cert.not_valid_after_utc.timestamp()
        if self.not_before is None or self.not_before < nb:
            object.__setattr__(self, "not_before", nb)
        if self.not_after is None or self.not_after > na:
            object.__setattr__(self, "not_after", na)

    @classmethod
    def from_certificate(cls, cert: x509.Certificate, *, profiles: Iterable[str] = PROFILES,
                         label: str = "", kid: bytes | None = None,
                         not_before: float | None = None,
                         not_after: float | None = None) -> SignerKey:
        """A signer from its certificate; ``not_before`` / ``not_after`` may narrow (never
        widen) the certificate's validity. :class:`UnsupportedKeyType` for a key no
        supported algorithm can use."""
        pk = keys.certificate_public_key(cert)
        return cls(kid=kid or keys.kid_for_certificate(cert), public_key=pk,
                   profiles=frozenset(profiles), not_before=not_before, not_after=not_after,
                   certificate=cert, label=label or cert.subject.rfc4514_string())

    @classmethod
    def from_public_key(cls, public_key: keys.PublicKey, *, profiles: Iterable[str] = PROFILES,
                        label: str = "", not_before: float | None = None,
                        not_after: float | None = None, kid: bytes | None = None) -> SignerKey:
        return cls(kid=kid or keys.kid_for_public_key(public_key), public_key=public_key,
                   profiles=frozenset(profiles), not_before=not_before, not_after=not_after,
                   certificate=None, label=label)

    def valid_at(self, t: float) -> bool:
        """True if ``t`` lies within the key's validity (both ends inclusive)."""
        return ((self.not_before is None or t >= self.not_before)
                and (self.not_after is None or t <= self.not_after))


@dataclass(frozen=True)
class TrustList:
    """A verified trust list (``TrustList.from_bytes``); docs/trust-list.md.

    ``keys``: the usable signer keys, in list order. ``revoked``: revoked code ids, lower
    case. ``skipped``: one message per key entry left out because no supported algorithm
    can use its key (or its validity is empty); the rest of the list is in force.
    ``raw``: the exact signed bytes (what ``TrustStore`` writes to disk).
    """

    version: int
    issued_at: float
    expires_at: float
    keys: tuple[SignerKey, ...]
    revoked: frozenset[str]
    raw: bytes = field(repr=False, default=b"")
    skipped: tuple[str, ...] = ()

    def is_stale(self, now: float) -> bool:
        """True once ``now`` is past the list's expiry."""
        return now > self.expires_at

    @classmethod
    def from_bytes(cls, data: bytes, root_key: Any) -> TrustList:
        """Verify the root signature and parse; raises :class:`TrustListError`."""
        return _parse(bytes(data), root_key)


class _Skipped(Exception):
    """A well-formed key entry this verifier cannot use: left out, with a warning."""


def _fail(msg: str) -> TrustListError:
    return TrustListError(f"trust list rejected: {msg}")


def _opt_time(entry: dict[Any, Any], name: str) -> float | None:
    v = entry.get(name)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise _fail(f"key field {name!r} must be a number")
    return float(v)


def _parse_key(entry: Any, i: int) -> SignerKey:
    if not isinstance(entry, dict):
        raise _fail(f"keys[{i}] is not a map")
    profiles = entry.get("profiles")
    if (not isinstance(profiles, list) or not profiles
            or not all(isinstance(p, str) for p in profiles)):
        raise _fail(f"keys[{i}].profiles must be a non-empty list of profile names")
    label = entry.get("label", "")
    if not isinstance(label, str):
        raise _fail(f"keys[{i}].label must be text")
    kid = entry.get("kid")
    if kid is not None and (not isinstance(kid, bytes) or not kid):
        raise _fail(f"keys[{i}].kid must be a byte string")
    nbf, naf = _opt_time(entry, "not_before"), _opt_time(entry, "not_after")
    if "cert" in entry and "spki" in entry:
        raise _fail(f"keys[{i}] has both 'cert' and 'spki': give exactly one")
    field_name = "cert" if "cert" in entry else "spki" if "spki" in entry else None
    if field_name is None:
        raise _fail(f"keys[{i}] has neither 'cert' nor 'spki'")
    der = entry[field_name]
    if not isinstance(der, bytes):
        raise _fail(f"keys[{i}].{field_name} must be a byte string (DER)")
    where = f"keys[{i}]" + (f" ({label})" if label else "")
    try:
        if field_name == "cert":
            cert = keys.parse_certificate(der, f"keys[{i}].cert")
            shown_kid = kid or keys.kid_for_certificate(cert)
            key = SignerKey.from_certificate(cert, profiles=profiles, label=label, kid=kid,
                                             not_before=nbf, not_after=naf)
        else:
            shown_kid = kid or hashlib.sha256(der).digest()[:keys.KID_LEN]
            key = SignerKey.from_public_key(keys.parse_spki(der, f"keys[{i}].spki"),
                                            profiles=profiles, label=label, not_before=nbf,
                                            not_after=naf, kid=kid)
    except keys.UnsupportedKeyType as exc:
        raise _Skipped(f"{where} kid {shown_kid.hex()} skipped: {exc.key_type} keys are not "
                       "supported by this verifier; codes signed with it are unknown_key") from exc
    except KeyLoadError as exc:
        raise _fail(str(exc)) from exc
    if key.not_before is not None and key.not_after is not None and key.not_before > key.not_after:
        raise _Skipped(f"{where} kid {key.kid.hex()} skipped: its validity is empty (not_before "
                       f"{key.not_before:.0f} is after not_after {key.not_after:.0f}"
                       f"{', after narrowing to the certificate' if key.certificate else ''})")
    return key


def _parse(data: bytes, root_key: Any) -> TrustList:
    if len(data) > MAX_FILE_BYTES:
        raise _fail(f"larger than {MAX_FILE_BYTES} bytes")
    try:
        msg = cose.parse_sign1(cbor.decode(data, max_depth=_MAX_DEPTH, max_items=_MAX_ITEMS))
    except (cbor.CBORError, cose.COSEError) as exc:
        raise _fail(f"not a COSE_Sign1 document ({exc}); the file may be truncated") from exc
    if not cose.verify(msg.alg, root_key, msg.to_be_signed(), msg.signature):
        raise _fail("bad signature: not signed by the pinned root key")
    try:
        body = cbor.decode(msg.payload, max_depth=_MAX_DEPTH, max_items=_MAX_ITEMS)
    except cbor.CBORError as exc:
        raise _fail(f"payload is not CBOR ({exc})") from exc
    if not isinstance(body, dict):
        raise _fail("payload is not a map")
    if body.get("format") != FORMAT:
        raise _fail(f"format {body.get('format')!r} is not {FORMAT}")
    version, issued, expires = body.get("version"), body.get("issued_at"), body.get("expires_at")
    for name, v in (("version", version), ("issued_at", issued), ("expires_at", expires)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise _fail(f"{name!r} must be a non-negative integer")
    assert isinstance(version, int) and isinstance(issued, int) and isinstance(expires, int)
    if expires <= issued:
        raise _fail("expires_at is not after issued_at")
    raw_keys, revoked = body.get("keys"), body.get("revoked", [])
    if not isinstance(raw_keys, list):
        raise _fail("'keys' must be a list")
    if not isinstance(revoked, list) or not all(isinstance(r, str) for r in revoked):
        raise _fail("'revoked' must be a list of code ids (text)")
    signer_keys: list[SignerKey] = []
    skipped: list[str] = []
    for i, entry in enumerate(raw_keys):
        try:
            signer_keys.append(_parse_key(entry, i))
        except _Skipped as exc:
            skipped.append(str(exc))
    return TrustList(version=version, issued_at=float(issued), expires_at=float(expires),
                     keys=tuple(signer_keys), revoked=frozenset(r.lower() for r in revoked),
                     raw=data, skipped=tuple(skipped))


def encode_key(key: SignerKey) -> dict[str, Any]:
    entry: dict[str, Any] = {"kid": key.kid, "profiles": sorted(key.profiles),
                             "label": key.label}
    if key.certificate is not None:
        entry["cert"] = key.certificate.public_bytes(keys.serialization.Encoding.DER)
    else:
        entry["spki"] = keys.spki_der(key.public_key)
    if key.not_before is not None:
        entry["not_before"] = int(key.not_before)
    if key.not_after is not None:
        entry["not_after"] = int(key.not_after)
    return entry


def sign_trust_list(root_private_key: Any, version: int, issued_at: float, expires_at: float,
                    signer_keys: Iterable[SignerKey], revoked: Iterable[str] = ()) -> bytes:
    """Encode and sign a trust list with the root key (the operator's side)."""
    body = {"format": FORMAT, "version": int(version), "issued_at": int(issued_at),
            "expires_at": int(expires_at), "keys": [encode_key(k) for k in signer_keys],
            "revoked": sorted({r.lower() for r in revoked})}
    root_kid = keys.kid_for_public_key(root_private_key.public_key())
    return cose.sign1(cbor.encode(body), root_private_key, root_kid)


def load_root_key(path: Path | str) -> keys.PublicKey:
    """The pinned root public key (PEM/DER public key or certificate); raises KeyLoadError."""
    key, _ = keys.load_public_key(path)
    return key


def _log_skipped(tl: TrustList) -> None:
    for message in tl.skipped:
        log.warning("trust list version %s: %s", tl.version, message)


class TrustStore:
    """The installed trust list on local disk: atomic installs, no rollback."""

    def __init__(self, path: Path, root_key: Any) -> None:
        self.path = Path(path)
        self.root_key = root_key
        self._lock = threading.Lock()
        self._current: TrustList | None = None

    @property
    def current(self) -> TrustList | None:
        return self._current

    def load(self) -> TrustList | None:
        """The installed list, or None if none is installed.

        Raises :class:`TrustListError` if the file exists but does not verify.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise TrustListError(f"cannot read trust list {self.path}: {exc}") from exc
        tl = TrustList.from_bytes(data, self.root_key)
        _log_skipped(tl)
        with self._lock:
            if self._current is None or tl.version >= self._current.version:
                self._current = tl
        return tl

    def install(self, data: bytes) -> TrustList:
        """Verify ``data`` and install it if its version is newer; returns the new list."""
        new = TrustList.from_bytes(data, self.root_key)
        with self._lock:
            current = self._current
            if current is None:
                try:
                    current = TrustList.from_bytes(self.path.read_bytes(), self.root_key)
                except FileNotFoundError:
                    current = None
                except (OSError, TrustListError) as exc:
                    log.warning("installed trust list unreadable, replacing it: %s", exc)
                    current = None
            if current is not None and new.version <= current.version:
                raise TrustListError(
                    f"trust list version {new.version} refused: version {current.version} is "
                    "installed and versions only go up (rollback protection)")
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(self.path, new.raw)
            except OSError as exc:
                raise TrustListError(f"cannot write trust list {self.path}: {exc}") from exc
            self._current = new
        log.info("trust list version %s installed (%d keys, %d revoked)",
                 new.version, len(new.keys), len(new.revoked))
        _log_skipped(new)
        return new
