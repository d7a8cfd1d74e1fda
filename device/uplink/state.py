"""What the uplink knows about itself; ``Uplink.status()`` is a snapshot of this."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

MAX_REPORTS = 20


@dataclass
class UplinkState:
    online: bool = False
    last_ok_t: float | None = None
    last_error: str | None = None
    last_error_kind: str | None = None
    last_error_t: float | None = None
    consecutive_failures: int = 0
    backoff_s: float = 0.0
    batches_acked: int = 0
    records_acked: int = 0
    duplicates_reported: int = 0
    batches_set_aside: int = 0
    batch_size: int = 0
    min_interval_s: float = 0.0
    last_heartbeat_t: float | None = None
    heartbeat_error: str | None = None
    trust_list_version: int | None = None
    trust_last_check_t: float | None = None
    trust_error: str | None = None
    server_date_t: float | None = None
    identity_refused: str | None = None  # the centre's code for a 401/403 (``revoked``)
    set_aside: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_REPORTS))
    errors: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MAX_REPORTS))

    def ok(self, now: float) -> None:
        self.online = True
        self.last_ok_t = now
        self.consecutive_failures = 0
        self.backoff_s = 0.0

    def failed(self, now: float, kind: str, message: str) -> None:
        self.online = False
        self.consecutive_failures += 1
        self.last_error = message
        self.last_error_kind = kind
        self.last_error_t = now
        self.errors.append({"t": now, "kind": kind, "message": message[:300]})

    def snapshot(self) -> dict[str, Any]:
        return {
            "online": self.online,
            "last_ok_t": self.last_ok_t,
            "last_error": self.last_error,
            "last_error_kind": self.last_error_kind,
            "last_error_t": self.last_error_t,
            "consecutive_failures": self.consecutive_failures,
            "backoff_s": self.backoff_s,
            "batches_acked": self.batches_acked,
            "records_acked": self.records_acked,
            "duplicates_reported": self.duplicates_reported,
            "batches_set_aside": self.batches_set_aside,
            "set_aside": list(self.set_aside),
            "errors": list(self.errors),
            "batch_size": self.batch_size,
            "min_interval_s": self.min_interval_s,
            "last_heartbeat_t": self.last_heartbeat_t,
            "heartbeat_error": self.heartbeat_error,
            "trust_list_version": self.trust_list_version,
            "trust_last_check_t": self.trust_last_check_t,
            "trust_error": self.trust_error,
            "server_date_t": self.server_date_t,
            "identity_refused": self.identity_refused,
            "mutual_tls": False,
        }
