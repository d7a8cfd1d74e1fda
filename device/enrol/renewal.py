"""Renewal before expiry, by the daemon: ``simplereenroll`` over mutual TLS with the
current certificate, same key and names; the new certificate is installed atomically
and the uplink told to present it.

When: ``renew_fraction`` of the lifetime before ``not_after``, minus a jitter of up to a
tenth of the lifetime drawn once per certificate (so a fleet enrolled the same hour does
not come back the same second). Failures back off with full jitter, 1 min .. 1 h. An
expired certificate cannot renew (the centre's TLS refuses it): the state says so.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from cryptography import x509

from device.enrol.enrol import check_issued, order_chain
from device.enrol.est import EstClient, pinned_context
from device.errors import EnrolmentError, IdentityError
from device.identity.certs import build_csr, ca_fingerprint, key_fingerprint
from device.identity.config import IdentityConfig
from device.identity.store import Enrolment, IdentityStore

log = logging.getLogger(__name__)

RETRY_MIN_S = 60.0
RETRY_MAX_S = 3600.0
CHECK_MAX_S = 3600.0
#: At most one renewal per this many seconds (monotonic): a clock running ahead of the
#: centre's would otherwise find every new certificate "due" at once and loop.
MIN_GAP_S = 6 * 3600.0


async def renew_once(store: IdentityStore, *, timeout_s: float = 10.0,
                     transport: httpx.AsyncBaseTransport | None = None) -> Enrolment:
    """One renewal; EnrolmentError (code ``revoked``, ``unreachable``, ...) on failure."""
    enrolment = store.load()
    key = store.load_key()
    if enrolment is None or key is None:
        raise EnrolmentError("not enrolled: nothing to renew", "not_enrolled")
    ca_pem = enrolment.ca_path.read_bytes()
    ca = x509.load_pem_x509_certificate(ca_pem)
    ctx = pinned_context(ca_pem, enrolment.cert_path, enrolment.key_path)
    csr = build_csr(key, terminal_id=enrolment.terminal_id, gate_id=enrolment.gate_id)
    key_fp = key_fingerprint(key.public_key())
    async with EstClient(enrolment.central_url, ctx, timeout_s=timeout_s, transport=transport,
                         terminal_id=enrolment.terminal_id) as est:
        chain = order_chain(await est.simplereenroll(csr), key_fp)
    check_issued(chain, ca, key_fp=key_fp, terminal_id=enrolment.terminal_id,
                 gate_id=enrolment.gate_id)
    chain = [chain[0], *[c for c in chain[1:] if ca_fingerprint(c) != ca_fingerprint(ca)], ca]
    return store.commit(key=key, chain=chain, ca=ca, root_pem=enrolment.root_path.read_bytes(),
                        terminal_id=enrolment.terminal_id, gate_id=enrolment.gate_id,
                        central_url=enrolment.central_url, ca_fp=enrolment.ca_fingerprint,
                        enrolled_at=enrolment.enrolled_at)


class Renewer:
    """The daemon's renewal task (``run`` until cancelled) and what it knows."""

    def __init__(self, store: IdentityStore, config: IdentityConfig, *,
                 now: Callable[[], float], on_renewed: Callable[[Enrolment], None],
                 rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 timeout_s: float = 10.0,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.store = store
        self.config = config
        self.now = now
        self.on_renewed = on_renewed
        self.rng = rng if rng is not None else random.SystemRandom()
        self.sleep = sleep
        self.timeout_s = timeout_s
        self.transport = transport
        self._jitter: dict[str, float] = {}
        self.failures = 0
        self.renewals = 0
        self.last_error: str | None = None
        self.last_error_code: str | None = None
        self.next_renewal_t: float | None = None
        self.last_renewal_t: float | None = None
        self._last_renewal_mono: float | None = None

    def due_at(self, enrolment: Enrolment) -> float:
        info = enrolment.cert
        jitter = self._jitter.setdefault(info.serial,
                                         self.rng.uniform(0.0, info.lifetime_s / 10.0))
        return info.not_after - info.lifetime_s * self.config.renew_fraction - jitter

    def status(self) -> dict[str, Any]:
        return {"renewals": self.renewals, "next_renewal_t": self.next_renewal_t,
                "last_renewal_t": self.last_renewal_t, "renewal_error": self.last_error,
                "renewal_error_code": self.last_error_code}

    async def step(self) -> float:
        """Renew if due; returns how long to wait before the next look."""
        try:
            enrolment = self.store.load()
        except IdentityError as exc:
            self.last_error = str(exc)
            return RETRY_MAX_S
        if enrolment is None:
            self.next_renewal_t = None
            return CHECK_MAX_S
        due = self.due_at(enrolment)
        self.next_renewal_t = due
        now = self.now()
        if now < due:
            return min(due - now, CHECK_MAX_S)
        since = (time.monotonic() - self._last_renewal_mono
                 if self._last_renewal_mono is not None else None)
        if since is not None and since < MIN_GAP_S:
            return min(MIN_GAP_S - since, CHECK_MAX_S)
        if enrolment.cert.expired(now):
            self.last_error = ("the certificate has expired and cannot be renewed; re-enrol "
                               "the terminal (scangate provision enroll)")
            self.last_error_code = "expired"
            return CHECK_MAX_S
        try:
            new = await renew_once(self.store, timeout_s=self.timeout_s,
                                   transport=self.transport)
        except (EnrolmentError, IdentityError, OSError) as exc:
            self.failures += 1
            self.last_error = str(exc)
            self.last_error_code = getattr(exc, "code", "error")
            wait = self.rng.uniform(0.0, min(RETRY_MAX_S, RETRY_MIN_S * 2 ** self.failures))
            log.warning("certificate renewal failed (%s); next try in %.0f s", exc, wait)
            return max(1.0, wait)
        self.failures = 0
        self.renewals += 1
        self.last_error = self.last_error_code = None
        self.last_renewal_t = now
        self._last_renewal_mono = time.monotonic()
        log.warning("certificate renewed: serial %s valid until %s", new.cert.serial,
                    new.cert.not_after)
        self.on_renewed(new)
        return 1.0

    async def run(self) -> None:
        while True:
            await self.sleep(await self.step())
