"""The offline verifier: payload -> Verdict, against a trust list, in milliseconds.

Stages, in order (the reason is the first that fails): prefix -> Base45 -> zlib ->
CBOR/COSE/CWT structure -> key lookup -> signature -> DCC schema (EU DCCs) -> key usage ->
validity window -> revocation -> status red. ``verify`` never raises. See
``docs/verifier-api.md`` and ``docs/code-format.md`` section 6.

The verifier reports facts: a genuine, valid yellow code is ACCEPT with ``status``
"yellow", and a trust list past its expiry adds the ``trust_list_stale`` warning. What a
site does with them (yellow, stale list, profiles, anti-passback) is ``device.decide``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from device.clock import Clock, SystemClock
from device.errors import ConfigError
from device.verify.claims import Claims, decode_claims
from device.verify.codecs import cbor, cose
from device.verify.codeformat import PROFILE_DCC, Reject, unwrap
from device.verify.trustlist import SignerKey, TrustList
from device.verify.verdict import WARNING_STALE, Decision, Reason, Verdict, new_verdict

if TYPE_CHECKING:  # imported where used: cryptography.x509 costs ~50 ms at startup
    from cryptography import x509

log = logging.getLogger(__name__)

#: EU hcert extended key usage OIDs -> DCC certificate type they allow.
DCC_EKU: dict[str, str] = {
    "1.3.6.1.4.1.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r",
    "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
SUPPORTED_ALGS = frozenset(cose.ALG_NAMES)
_COSE_MAX_DEPTH = 6
_COSE_MAX_ITEMS = 64


@dataclass(frozen=True)
class VerifyPolicy:
    """How the verifier checks (not what a site accepts: that is ``device.decide``)."""

    clock_skew_s: float = 60.0  # an iat this far in the future is still accepted

    def __post_init__(self) -> None:
        if not self.clock_skew_s >= 0:
            raise ConfigError(f"clock_skew_s={self.clock_skew_s!r}: must be >= 0")


_DEFAULT_POLICY = VerifyPolicy()


def dcc_types_allowed(cert: x509.Certificate | None) -> frozenset[str] | None:
    """DCC types a signer certificate may sign, or None for "any" (no hcert EKU OID)."""
    if cert is None:
        return None
    from cryptography import x509

    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    except ValueError:  # malformed extensions: treat as no restriction we can read
        return None
    types = frozenset(DCC_EKU[o.dotted_string] for o in eku if o.dotted_string in DCC_EKU)
    return types or None


@dataclass(frozen=True, slots=True)
class _Signer:
    key: SignerKey
    dcc_types: frozenset[str] | None
    check: cose.KeyCheck  # the signature check prepared for this key


@dataclass(frozen=True, slots=True)
class _State:
    trust: TrustList | None
    index: dict[bytes, tuple[_Signer, ...]]


def _build_index(signer_keys: Iterable[SignerKey]) -> dict[bytes, tuple[_Signer, ...]]:
    index: dict[bytes, list[_Signer]] = {}
    for k in signer_keys:
        index.setdefault(bytes(k.kid), []).append(
            _Signer(k, dcc_types_allowed(k.certificate), cose.checker_for(k.public_key)))
    return {kid: tuple(v) for kid, v in index.items()}


def _deny(reason: Reason, detail: str, *, profile: str | None = None,
          kid: bytes | None = None) -> Verdict:
    """A DENY before the signature verified: no claim is reported."""
    return new_verdict(Decision.DENY, reason, profile, kid, None, None, None, None, None, None,
                       None, detail, ())


class Verifier:
    """Verifies payloads offline. Thread-safe: the trust state is swapped atomically."""

    def __init__(self, trust: TrustList | Iterable[SignerKey], *,
                 policy: VerifyPolicy = _DEFAULT_POLICY, clock: Clock | None = None,
                 extra_keys: Iterable[SignerKey] = ()) -> None:
        self._policy = policy
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._extra = tuple(extra_keys)
        if isinstance(trust, TrustList):
            self._state = _State(trust, _build_index(trust.keys + self._extra))
        else:
            self._state = _State(None, _build_index(tuple(trust) + self._extra))

    @property
    def policy(self) -> VerifyPolicy:
        return self._policy

    @property
    def trust_list(self) -> TrustList | None:
        return self._state.trust

    def replace_trust(self, trust: TrustList) -> None:
        """Swap in a new trust list; in-flight verifications finish on the old one."""
        self._state = _State(trust, _build_index(trust.keys + self._extra))

    def verify(self, payload: str | bytes, at: float | None = None) -> Verdict:
        """The verdict for one scanned payload at time ``at`` (default: the clock). Never raises."""
        state = self._state
        try:
            now = self._clock.now() if at is None else float(at)
            step = _prepare(state, payload)
            if not isinstance(step, _Pending):
                verdict = step
            else:
                verdict = self._finish(state, step, _signer(step), now)
            if state.trust is not None and state.trust.is_stale(now):
                verdict = _with_stale(verdict)
            return verdict
        except Exception as exc:  # the contract: a verdict, never an exception
            return _internal_error(exc)

    def verify_many(self, payloads: Iterable[str | bytes],
                    at: float | None = None) -> list[Verdict]:
        """``[verify(p, at) for p in payloads]``, the same verdicts in the same order, made
        faster for many: every payload is parsed first, then the signatures are checked
        one after another (the crypto library's code and tables stay in the CPU caches),
        then the verdicts are made. Never raises; no verdict depends on another payload."""
        state = self._state
        try:
            now = self._clock.now() if at is None else float(at)
        except Exception as exc:
            return [_internal_error(exc) for _ in payloads]
        steps: list[Verdict | _Pending] = []
        for payload in payloads:
            try:
                steps.append(_prepare(state, payload))
            except Exception as exc:
                steps.append(_internal_error(exc))
        for i, step in enumerate(steps):  # the signatures, one after another
            if isinstance(step, _Pending):
                try:
                    step.signer = _signer(step)
                except Exception as exc:
                    steps[i] = _internal_error(exc)
        stale = state.trust is not None and state.trust.is_stale(now)
        out = []
        for step in steps:
            try:
                verdict = (self._finish(state, step, step.signer, now)
                           if isinstance(step, _Pending) else step)
                out.append(_with_stale(verdict) if stale else verdict)
            except Exception as exc:
                out.append(_internal_error(exc))
        return out

    def _finish(self, state: _State, p: _Pending, signer: _Signer | None,
                now: float) -> Verdict:
        """Stages 6 (its outcome) to 11 for a payload whose signature was checked."""
        profile, kid, claims = p.profile, p.kid, p.claims
        if signer is None:
            return _deny(Reason.BAD_SIGNATURE,
                         f"{cose.ALG_NAMES[p.alg]} signature does not verify with any of "
                         f"{len(p.candidates)} key(s) for kid {kid.hex()}",
                         profile=profile, kid=kid)
        reason: Reason | None
        if claims.dgc_problem is not None:  # stage 7, found while parsing (claims.py)
            reason, detail = Reason.BAD_STRUCTURE, "DGC schema: " + claims.dgc_problem
        else:
            reason, detail = _key_usage(signer, profile, claims)
        if reason is None:
            reason, detail = _time_window(signer.key, claims, now, self._policy.clock_skew_s)
        if reason is None and state.trust is not None and claims.code_id in state.trust.revoked:
            reason, detail = Reason.REVOKED, "code id is on the revocation list"
        if reason is None and claims.status == "red":
            reason, detail = Reason.STATUS_RED, "status red"
        if reason is None:
            return new_verdict(Decision.ACCEPT, Reason.OK, profile, kid, claims.iss, claims.iat,
                               claims.exp, claims.status, claims.code_id, claims.subject_ref,
                               claims.cert_type, "", ())
        return new_verdict(Decision.DENY, reason, profile, kid, claims.iss, claims.iat,
                           claims.exp, claims.status, claims.code_id, claims.subject_ref,
                           claims.cert_type, detail, ())


@dataclass(slots=True)
class _Pending:
    """A payload that parsed and names a trusted kid: its signature is next."""

    profile: str
    kid: bytes
    claims: Claims
    candidates: tuple[_Signer, ...]
    alg: int
    tbs: bytes
    signature: bytes
    signer: _Signer | None = None  # set once the signature is checked


def _prepare(state: _State, payload: str | bytes) -> Verdict | _Pending:
    """Stages 0 to 5: a DENY verdict, or what the signature check needs."""
    try:
        profile, cose_bytes = unwrap(payload)
    except Reject as r:
        return _deny(r.reason, r.detail, profile=r.profile)
    try:
        msg, claims = parse_structure(profile, cose_bytes)
    except Reject as r:
        return _deny(r.reason, r.detail, profile=profile)
    kid = msg.kid
    if kid is None:
        return _deny(Reason.UNKNOWN_KEY, "no kid in the COSE headers", profile=profile)
    candidates = state.index.get(kid)
    if not candidates:
        return _deny(Reason.UNKNOWN_KEY, f"kid {kid.hex()} is not in the trust list",
                     profile=profile, kid=kid)
    return _Pending(profile, kid, claims, candidates, msg.alg, msg.to_be_signed(),
                    msg.signature)


def _signer(p: _Pending) -> _Signer | None:
    """Stage 6: the first key of that kid the signature verifies with, or None."""
    alg, tbs, signature = p.alg, p.tbs, p.signature
    for cand in p.candidates:
        if cand.check(alg, tbs, signature):
            return cand
    return None


def _with_stale(v: Verdict) -> Verdict:
    return new_verdict(v.decision, v.reason, v.profile, v.kid, v.issuer, v.iat, v.exp,
                       v.status, v.code_id, v.subject_ref, v.cert_type, v.detail,
                       (*v.warnings, WARNING_STALE))


def _internal_error(exc: Exception) -> Verdict:
    log.error("verifier internal error (%s); denying", type(exc).__name__)
    return _deny(Reason.BAD_STRUCTURE, f"internal error: {type(exc).__name__}")


def parse_structure(profile: str, cose_bytes: bytes) -> tuple[cose.Sign1, Claims]:
    """Stages 4 (CBOR, COSE_Sign1, CWT claims) without any key; :class:`Reject` on failure."""
    msg = cose.parse_sign1_common(cose_bytes)  # the usual layout, read directly
    if msg is None:
        try:
            obj = cbor.decode(cose_bytes, max_depth=_COSE_MAX_DEPTH, max_items=_COSE_MAX_ITEMS)
        except cbor.CBORLimitError as exc:
            raise Reject(Reason.TOO_LARGE, f"COSE: {exc}") from None
        except cbor.CBORError as exc:
            raise Reject(Reason.BAD_STRUCTURE, f"COSE: {exc}") from None
        try:
            msg = cose.parse_sign1(obj)
        except cose.COSEError as exc:
            raise Reject(Reason.BAD_STRUCTURE, str(exc)) from None
    if msg.alg not in SUPPORTED_ALGS:
        raise Reject(Reason.BAD_STRUCTURE, f"unsupported COSE algorithm {msg.alg}")
    return msg, decode_claims(profile, msg.payload)


def _key_usage(signer: _Signer, profile: str, claims: Claims) -> tuple[Reason | None, str]:
    """Stage 8: may this key sign this profile (and, for a DCC, this certificate type)?"""
    key = signer.key
    if profile not in key.profiles:
        return Reason.KEY_USAGE, (f"key {key.kid.hex()} may sign {sorted(key.profiles)}, "
                                  f"not {profile!r}")
    if (profile == PROFILE_DCC and signer.dcc_types is not None
            and claims.cert_type not in signer.dcc_types):
        return Reason.KEY_USAGE, (f"certificate EKU allows DCC types {sorted(signer.dcc_types)}, "
                                  f"not {claims.cert_type!r}")
    return None, ""


def _time_window(key: SignerKey, claims: Claims, now: float,
                 skew: float) -> tuple[Reason | None, str]:
    """Stage 9, one rule for both profiles (docs/code-format.md section 6): the check time
    ``now`` must lie within the code's [iat, exp] and within the signer key's validity
    [not_before, not_after], all inclusive; ``skew`` is allowed on the early side only.
    ``iat`` is not compared with the key's validity (the EU reference verifiers do not:
    the key signs iat itself, so a stolen key can write any iat)."""
    late = now + skew
    if late < claims.iat:
        return Reason.NOT_YET_VALID, f"issued at {claims.iat}, now {int(now)}"
    if key.not_before is not None and late < key.not_before:
        return Reason.NOT_YET_VALID, (f"signer key {key.kid.hex()} is valid from "
                                      f"{int(key.not_before)}, now {int(now)}")
    if now > claims.exp:
        return Reason.EXPIRED, f"expired at {claims.exp}, now {int(now)}"
    if key.not_after is not None and now > key.not_after:
        return Reason.EXPIRED, (f"signer key {key.kid.hex()} expired at {int(key.not_after)}, "
                                f"now {int(now)}")
    return None, ""
