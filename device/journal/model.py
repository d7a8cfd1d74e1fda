"""The journal's value types: what the daemon hands in, what the uplink gets back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NewRecord:
    """One decision as the daemon hands it to ``Journal.record``. No names, no ID numbers.

    ``t_wall`` is the decision time (Unix s, from ``TimeFloor.now()``), ``clock_quality``
    its ``ClockQuality`` value, ``kid`` the signer key id as hex, ``latency_ms`` the
    scan-to-decision latency.
    """

    t_wall: float
    clock_quality: str
    source: str
    profile: str | None
    decision: str
    reason: str
    code_id: str | None
    subject_ref: str | None
    kid: str | None
    latency_ms: float


@dataclass(frozen=True)
class Record(NewRecord):
    """A journaled decision. ``stored`` is False when the journal could not keep it
    (quota or disk guard, see ``docs/journal.md``); such a record has ``seq == 0`` and
    the loss is counted in ``JournalStats.lost`` and reported as an event."""

    record_id: str  # uuid4, the centre de-duplicates on it
    terminal_id: str
    seq: int  # per terminal, strictly increasing, persisted; 0 when not stored
    stored: bool = True

    def to_json(self) -> dict[str, Any]:
        """The record as the centre receives it (no ``stored``: only stored ones are sent)."""
        return {
            "record_id": self.record_id,
            "terminal_id": self.terminal_id,
            "seq": self.seq,
            "t_wall": self.t_wall,
            "clock_quality": self.clock_quality,
            "source": self.source,
            "profile": self.profile,
            "decision": self.decision,
            "reason": self.reason,
            "code_id": self.code_id,
            "subject_ref": self.subject_ref,
            "kid": self.kid,
            "latency_ms": self.latency_ms,
        }


@dataclass(frozen=True)
class Batch:
    """Records to upload under one idempotency key.

    The key and the membership are committed before ``next_batch`` returns, so every
    retry (after a timeout, a crash, a reboot) sends the same records under the same key.
    ``attempts`` counts how many times ``next_batch`` has handed this batch out,
    this time included (1 on the first send).
    """

    batch_id: int
    idempotency_key: str
    records: tuple[Record, ...]
    attempts: int
    created_t: float = 0.0


@dataclass(frozen=True)
class JournalStats:
    records: int  # rows in the journal (pending, uploaded, set aside)
    pending: int  # not yet acknowledged by the centre and not set aside
    oldest_pending_t: float | None  # t_wall of the oldest pending record
    lost: int  # decisions not stored (quota, disk guard, write error), lifetime
    set_aside: int  # records of batches the centre refused (4xx), kept for the technician
    size_bytes: int  # database file + WAL on disk
    last_seq: int  # last seq given to this terminal's records
    quota_bytes: int = 0
    live_bytes: int = 0  # pages in use (what the quota counts)
    free_disk_bytes: int | None = None
    corrupt_recoveries: int = 0  # journals moved aside since this process started
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "pending": self.pending,
            "oldest_pending_t": self.oldest_pending_t,
            "lost": self.lost,
            "set_aside": self.set_aside,
            "size_bytes": self.size_bytes,
            "last_seq": self.last_seq,
            "quota_bytes": self.quota_bytes,
            "live_bytes": self.live_bytes,
            "free_disk_bytes": self.free_disk_bytes,
            "corrupt_recoveries": self.corrupt_recoveries,
        }
