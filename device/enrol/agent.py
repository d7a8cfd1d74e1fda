"""What the running daemon does about its own identity: the screen QR, vouchers scanned by
its readers, enrolment from them, renewal, and the identity state shown to people.

    agent = IdentityAgent(terminal_id, identity_config, trust, now=floor_now,
                          on_enrolled=daemon.enrolled, on_renewed=uplink.reload_identity)
    agent.start()                       # the key exists from now on (made here if needed)
    if is_voucher(scan.payload):        # BEFORE the decision path
        agent.offer(scan.payload)       # checks, then enrols as its own task
    agent.status()                      # state, enrolment URI, gate, days left, message

A voucher is never decided and never journaled: the daemon hands it over before the
pipeline sees it, and the exchange with the centre runs as a separate asyncio task, so
the scan → decision → actuate path never waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from device.enrol.enrol import EnrolRequest, EnrolResult, TrustTarget, enrol
from device.enrol.renewal import Renewer
from device.enrol.voucher import EnrolmentUri, parse_voucher
from device.errors import EnrolmentError, IdentityError
from device.identity.certs import key_fingerprint, short_fingerprint
from device.identity.config import IdentityConfig
from device.identity.store import Enrolment, IdentityStore

log = logging.getLogger(__name__)

#: States shown on the staff screen and /healthz.
STATES = ("unenrolled", "enrolling", "enrolled", "expired", "error")


class IdentityAgent:
    def __init__(self, terminal_id: str, config: IdentityConfig, trust: TrustTarget, *,
                 now: Callable[[], float],
                 on_enrolled: Callable[[EnrolResult], Awaitable[None] | None] | None = None,
                 on_renewed: Callable[[Enrolment], None] | None = None,
                 timeout_s: float = 10.0, transport: Any = None) -> None:
        self.terminal_id = terminal_id
        self.config = config
        self.trust = trust
        self.now = now
        self.on_enrolled = on_enrolled
        self.store = IdentityStore(config.dir)
        self.timeout_s = timeout_s
        self.transport = transport
        self.enrolment: Enrolment | None = None
        self.key_fp: str | None = None
        self.nonce = secrets.token_hex(8)
        self.busy = False
        self.message: str | None = None
        self.last_code: str | None = None
        self.vouchers_seen = 0
        self.error: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.renewer = Renewer(self.store, config, now=now,
                               on_renewed=self._renewed(on_renewed), timeout_s=timeout_s,
                               transport=transport)

    def _renewed(self, then: Callable[[Enrolment], None] | None) -> Callable[[Enrolment],
                                                                               None]:
        def done(new: Enrolment) -> None:
            self.enrolment = new
            if then is not None:
                then(new)
        return done

    def start(self) -> None:
        """Load the identity; make the key if there is none (on this terminal, 0600)."""
        try:
            self.enrolment = self.store.load()
            key = self.store.ensure_key()
            self.key_fp = key_fingerprint(key.public_key())
        except (IdentityError, OSError) as exc:
            self.error = str(exc)
            log.error("identity: %s", exc)

    # -- state -----------------------------------------------------------------------------
    @property
    def state(self) -> str:
        if self.busy:
            return "enrolling"
        if self.error is not None and self.enrolment is None:
            return "error"
        if self.enrolment is None:
            return "unenrolled"
        if self.enrolment.cert.expired(self.now()):
            return "expired"
        return "enrolled"

    def uri(self) -> str | None:
        if self.key_fp is None:
            return None
        return EnrolmentUri(self.terminal_id, self.key_fp, self.nonce).text()

    def status(self) -> dict[str, Any]:
        e = self.enrolment
        out: dict[str, Any] = {
            "state": self.state, "terminal_id": self.terminal_id,
            "key_fingerprint": self.key_fp,
            "key_fingerprint_short": short_fingerprint(self.key_fp) if self.key_fp else None,
            "message": self.message, "last_code": self.last_code,
            "vouchers_seen": self.vouchers_seen, "error": self.error,
            **self.renewer.status(),
        }
        if e is not None:
            out.update(gate_id=e.gate_id, central_url=e.central_url, serial=e.cert.serial,
                       not_after=e.cert.not_after,
                       days_left=round(e.cert.days_left(self.now()), 2),
                       ca_fingerprint=e.ca_fingerprint)
        return out

    def wants_vouchers(self, refused: bool = False) -> bool:
        """Vouchers are taken while not enrolled, expired, or refused by the centre."""
        if self.config.vouchers == "never" or self.busy:
            return False
        return self.state in ("unenrolled", "expired", "error") or refused

    # -- vouchers ----------------------------------------------------------------------------
    def offer(self, payload: bytes, *, refused: bool = False) -> bool:
        """A voucher read by a scanner. Checks it now (no I/O); enrols as a task. Returns
        True when an enrolment was started. Never raises."""
        self.vouchers_seen += 1
        if not self.wants_vouchers(refused):
            self._say("voucher ignored: this terminal is enrolled already" if not self.busy
                      else "voucher ignored: an enrolment is running", "ignored")
            return False
        try:
            v = parse_voucher(payload)
            if v.terminal_id is not None and v.terminal_id != self.terminal_id:
                raise EnrolmentError(f"the voucher is for terminal {v.terminal_id}, this is "
                                     f"{self.terminal_id}", "terminal_mismatch")
            if v.key_fingerprint is not None and v.key_fingerprint != self.key_fp:
                raise EnrolmentError("the voucher is bound to another key than this "
                                     "terminal's", "key_mismatch")
            if v.nonce is not None and v.nonce != self.nonce:
                raise EnrolmentError("the voucher was made for an older screen code (the "
                                     "terminal restarted or enrolled since): scan the screen "
                                     "again", "nonce_mismatch")
        except EnrolmentError as exc:
            self._say(str(exc), exc.code)
            log.warning("enrolment voucher refused (%s): %s", exc.code, exc)
            return False
        req = EnrolRequest(central_url=v.url, token=v.token, gate_id=v.gate_id,
                           terminal_id=self.terminal_id, ca_fingerprint=v.ca_fingerprint,
                           voucher=v, pinned_ca_fingerprint=self.config.ca_fingerprint)
        self.busy = True
        self._say(f"voucher read: enrolling at gate {v.gate_id} …", "enrolling")
        self._task = asyncio.get_running_loop().create_task(self._enrol(req),
                                                            name="scangate-enrol")
        return True

    async def _enrol(self, req: EnrolRequest) -> None:
        try:
            result = await enrol(req, self.store, self.trust, timeout_s=self.timeout_s,
                                 transport=self.transport)
        except EnrolmentError as exc:
            self._say(str(exc), exc.code)
            log.warning("enrolment from a voucher refused (%s): %s", exc.code, exc)
            return
        except Exception as exc:  # never let enrolment take the daemon down
            self._say(f"enrolment failed: {type(exc).__name__}: {exc}", "error")
            log.exception("enrolment from a voucher failed")
            return
        finally:
            self.busy = False
            self.nonce = secrets.token_hex(8)  # a voucher is good for one attempt
        self.enrolment = result.enrolment
        self.error = None
        self._say(f"enrolled at gate {result.enrolment.gate_id} "
                  f"(certificate {result.enrolment.cert.serial[:12]})", "enrolled")
        log.warning("enrolled from a voucher: terminal %s at gate %s, centre %s",
                    self.terminal_id, result.enrolment.gate_id, result.enrolment.central_url)
        if self.on_enrolled is not None:
            done = self.on_enrolled(result)
            if done is not None:
                await done

    def _say(self, message: str, code: str) -> None:
        self.message = message
        self.last_code = code

    async def wait_idle(self) -> None:
        if self._task is not None:
            await asyncio.gather(self._task, return_exceptions=True)

    async def close(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
