"""Simulated people at a gate: who shows what code, and what the terminal should say.

Most people show a fresh green code; some are yellow or red; some show a code that
expired (an old screenshot), a forged one (signed by a key the trust list does not
hold under that key id), a screenshot of a code accepted here a moment ago (handed
back through the queue: anti-passback), or something that is not a health code at all.
Identities are random labels turned into salted hashes (never a name or an ID number).
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec

from sim.issuer import Issuer, subject_ref_for

#: kind -> (weight, the reason the terminal should give under the default site policy)
KINDS: dict[str, tuple[float, str]] = {
    "green": (70, "ok"),
    "yellow": (6, "status_yellow"),
    "red": (5, "status_red"),
    "expired": (6, "expired"),
    "forged": (4, "bad_signature"),
    "replayed": (6, "replayed"),
    "not_a_code": (3, "unknown_format"),
}


def code_hash(code_id: bytes) -> str:
    """What the daemon's log lines carry for a code: 12 hex of SHA-256 of the id (hex)."""
    return hashlib.sha256(code_id.hex().encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Person:
    n: int
    kind: str
    payload: str
    expected_reason: str
    code: str | None = None  # code_hash of the code shown, None if it is not one of ours
    t: float = 0.0  # time.monotonic() when shown

    @property
    def label(self) -> str:
        return f"person #{self.n} ({self.kind.replace('_', ' ')})"


class Crowd:
    """An endless, seeded stream of people for one gate."""

    def __init__(self, issuer: Issuer, *, seed: int | None = None,
                 weights: dict[str, float] | None = None, accept_yellow: bool = False,
                 replay_after_s: float = 3.5) -> None:
        self.issuer = issuer
        self.rng = random.Random(seed)
        self.salt = os.urandom(16)
        # A forger signs with their own key but claims the real issuer's key id.
        forger_key = ec.generate_private_key(ec.SECP256R1())
        self.forger = Issuer(forger_key, kid=issuer.kid, iss=issuer.iss)
        w = {k: v[0] for k, v in KINDS.items()}
        w.update(weights or {})
        self.kinds = [k for k in w if w[k] > 0]
        self.weights = [w[k] for k in self.kinds]
        self.accept_yellow = accept_yellow
        # Recently accepted codes (t, payload, hash): screenshots to hand back. Only those
        # older than the terminal's de-dup window are handed back (a repeat within it is
        # suppressed as the same phone held up again, not decided).
        self.replay_after_s = replay_after_s
        self._accepted: deque[tuple[float, str, str]] = deque(maxlen=20)
        self._n = 0

    def _subject(self) -> bytes:
        return subject_ref_for(f"sim-person-{self.rng.getrandbits(48):x}", self.salt)

    def _mint(self, issuer: Issuer, status: str, **kw: float) -> tuple[str, str]:
        cid = self.rng.randbytes(16)
        return issuer.mint(status, subject_ref=self._subject(), code_id=cid, **kw), code_hash(cid)

    def next(self) -> Person:
        self._n += 1
        now = time.monotonic()
        kind = self.rng.choices(self.kinds, self.weights)[0]
        old = [a for a in self._accepted if now - a[0] >= self.replay_after_s]
        if kind == "replayed" and not old:
            kind = "green"
        expected = KINDS[kind][1]
        code: str | None
        if kind == "green":
            payload, code = self._mint(self.issuer, "green")
            self._accepted.append((now, payload, code))
        elif kind == "yellow":
            payload, code = self._mint(self.issuer, "yellow")
            if self.accept_yellow:
                expected = "ok"
                self._accepted.append((now, payload, code))
        elif kind == "red":
            payload, code = self._mint(self.issuer, "red")
        elif kind == "expired":
            payload, code = self._mint(self.issuer, "green", valid_s=300, now=time.time() - 900)
        elif kind == "forged":
            payload, _ = self._mint(self.forger, "green")
            code = None  # refused at the signature: its claims (and code id) are never read
        elif kind == "replayed":
            _, payload, code = self.rng.choice(old)
        else:
            payload = self.rng.choice([
                "https://example.com/menu?table=12", "WIFI:S:CafeGuest;T:WPA;P:12345678;;",
                "6901234567892", "HC1:NOT-A-REAL-CERTIFICATE",
            ])
            code = None
            expected = "bad_encoding" if payload.startswith("HC1:") else "unknown_format"
        return Person(self._n, kind, payload, expected, code, now)

    def __iter__(self) -> Iterator[Person]:
        while True:
            yield self.next()
