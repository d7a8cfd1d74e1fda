"""What the verifier and the decision say about one scanned code.

Reason codes are stable (they are logged, journaled, sent to the centre and shown to
staff); see ``docs/code-format.md`` for the order in which they are checked.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any

#: The verifier's warning when the trust list is past its expiry (the site decides).
WARNING_STALE = "trust_list_stale"


class Decision(StrEnum):
    ACCEPT = "accept"
    DENY = "deny"


class Reason(StrEnum):
    OK = "ok"
    UNKNOWN_FORMAT = "unknown_format"
    BAD_ENCODING = "bad_encoding"
    BAD_COMPRESSION = "bad_compression"
    BAD_STRUCTURE = "bad_structure"
    TOO_LARGE = "too_large"
    UNKNOWN_KEY = "unknown_key"
    BAD_SIGNATURE = "bad_signature"
    KEY_USAGE = "key_usage"
    NOT_YET_VALID = "not_yet_valid"
    EXPIRED = "expired"
    REVOKED = "revoked"
    STATUS_RED = "status_red"
    # Decided by the site policy (device.decide), after the verifier:
    STATUS_YELLOW = "status_yellow"
    REPLAYED = "replayed"
    PROFILE_NOT_ACCEPTED = "profile_not_accepted"
    STALE_TRUST_LIST = "stale_trust_list"


#: Staff-facing text for every reason: (Simplified Chinese, English).
REASON_TEXT: dict[Reason, tuple[str, str]] = {
    Reason.OK: ("通过", "Valid"),
    Reason.UNKNOWN_FORMAT: ("无法识别的码", "Not a recognised code"),
    Reason.BAD_ENCODING: ("码内容损坏（编码错误）", "Damaged code (bad encoding)"),
    Reason.BAD_COMPRESSION: ("码内容损坏（压缩错误）", "Damaged code (bad compression)"),
    Reason.BAD_STRUCTURE: ("码内容格式错误", "Malformed code content"),
    Reason.TOO_LARGE: ("码内容过大", "Code content too large"),
    Reason.UNKNOWN_KEY: ("签发机构未知", "Unknown issuer key"),
    Reason.BAD_SIGNATURE: ("签名无效（可能伪造）", "Invalid signature (possibly forged)"),
    Reason.KEY_USAGE: ("签发密钥无权签发此类码", "Issuer key not allowed for this code type"),
    Reason.NOT_YET_VALID: ("码尚未生效", "Code not yet valid"),
    Reason.EXPIRED: ("码已过期，请刷新", "Code expired, please refresh"),
    Reason.REVOKED: ("码已被撤销", "Code revoked"),
    Reason.STATUS_YELLOW: ("黄码", "Yellow status"),
    Reason.STATUS_RED: ("红码", "Red status"),
    Reason.REPLAYED: ("此码刚刚已使用（疑似截图）", "Code just used here (possible screenshot)"),
    Reason.PROFILE_NOT_ACCEPTED: ("本站不接受此类码", "Code type not accepted at this site"),
    Reason.STALE_TRUST_LIST: ("信任列表已过期，暂停通行", "Trust list stale, site policy denies"),
}


def reason_text(reason: Reason) -> tuple[str, str]:
    """(Chinese, English) staff text for a reason."""
    return REASON_TEXT[reason]


@dataclass(frozen=True, slots=True)
class Verdict:
    """The outcome of verifying one payload. Never carries a name or an ID number.

    ``code_id`` is the code's id (our ``cti`` as hex; for an EU DCC, the SHA-256 of its
    certificate identifier, hex, first 32 chars). ``subject_ref`` is our codes'
    pseudonymous salted hash, ``None`` for a DCC. Times are Unix seconds.
    """

    decision: Decision
    reason: Reason
    profile: str | None = None  # "scangate" | "eu-dcc" | None (when the format is unknown)
    kid: bytes | None = None
    issuer: str | None = None
    iat: int | None = None
    exp: int | None = None
    status: str | None = None  # our codes: "green" | "yellow" | "red"
    code_id: str | None = None
    subject_ref: str | None = None
    cert_type: str | None = None  # EU DCC: "v" | "t" | "r"
    detail: str = ""  # one English line for technicians; no personal data
    warnings: tuple[str, ...] = field(default_factory=tuple)  # e.g. "trust_list_stale"

    @property
    def accepted(self) -> bool:
        return self.decision is Decision.ACCEPT

    def with_reason(self, reason: Reason, detail: str = "") -> Verdict:
        """A copy with the decision derived from a new reason (used by site policy)."""
        from dataclasses import replace

        decision = Decision.ACCEPT if reason is Reason.OK else Decision.DENY
        return replace(self, decision=decision, reason=reason, detail=detail or self.detail)

    def to_json(self) -> dict[str, Any]:
        """The object ``scangate verify --json`` prints (docs/verifier-api.md): every key
        always present, ``null`` when unknown; never ``subject_ref``."""
        zh, en = REASON_TEXT[self.reason]
        kid = self.kid
        return {
            "decision": self.decision.value,
            "reason": self.reason.value,
            "message_zh": zh,
            "message_en": en,
            "profile": self.profile,
            "kid": kid.hex() if kid is not None else None,
            "issuer": self.issuer,
            "iat": self.iat,
            "exp": self.exp,
            "status": self.status,
            "cert_type": self.cert_type,
            "code_id": self.code_id,
            "detail": self.detail,
            "warnings": list(self.warnings),
        }


# Verdict(...) without the frozen dataclass __init__ (see device.verify.claims._new_claims):
# one verdict per scan, so its construction is on the hot path.
_VERDICT_FIELDS = ("decision", "reason", "profile", "kid", "issuer", "iat", "exp", "status",
                   "code_id", "subject_ref", "cert_type", "detail", "warnings")
if tuple(f.name for f in fields(Verdict)) != _VERDICT_FIELDS:  # pragma: no cover
    raise RuntimeError("device.verify.verdict: update _VERDICT_FIELDS and new_verdict")
_new = object.__new__
_SETTERS = tuple(Verdict.__dict__[n].__set__ for n in _VERDICT_FIELDS)
(_set_decision, _set_reason, _set_profile, _set_kid, _set_issuer, _set_iat, _set_exp,
 _set_status, _set_code_id, _set_subject_ref, _set_cert_type, _set_detail,
 _set_warnings) = _SETTERS


def new_verdict(decision: Decision, reason: Reason, profile: str | None, kid: bytes | None,
                issuer: str | None, iat: int | None, exp: int | None, status: str | None,
                code_id: str | None, subject_ref: str | None, cert_type: str | None,
                detail: str, warnings: tuple[str, ...]) -> Verdict:
    """``Verdict(...)`` with every field given positionally, a third of the cost."""
    v = _new(Verdict)
    _set_decision(v, decision)
    _set_reason(v, reason)
    _set_profile(v, profile)
    _set_kid(v, kid)
    _set_issuer(v, issuer)
    _set_iat(v, iat)
    _set_exp(v, exp)
    _set_status(v, status)
    _set_code_id(v, code_id)
    _set_subject_ref(v, subject_ref)
    _set_cert_type(v, cert_type)
    _set_detail(v, detail)
    _set_warnings(v, warnings)
    return v
