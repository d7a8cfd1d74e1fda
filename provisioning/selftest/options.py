"""What the technician can tune (the command-line options), and the check groups."""

from __future__ import annotations

from dataclasses import dataclass, field

#: Check groups, in the order they run (names for ``--skip``).
GROUPS = ("daemon", "camera", "readers", "gate", "clock", "disk", "journal", "trust", "centre")


@dataclass(frozen=True, kw_only=True)
class Options:
    camera_measure_s: float = 2.0  # frames counted for this long
    camera_timeout_s: float = 10.0  # then frames decoded until a code, at most this long
    scan_serial: bool = False  # also wait for a code scanned with each serial reader
    serial_timeout_s: float = 20.0
    pulse_ms: int = 400  # each gate output on this long, then off as long
    force: bool = False  # pulse the gate even while the daemon runs
    cert_warn_days: float = 14.0  # WARN when the client certificate expires sooner
    trust_warn_s: float = 86400.0  # WARN when the trust list expires sooner
    clock_warn_s: float = 10.0  # wall clock vs the centre's Date: WARN beyond
    clock_fail_s: float = 300.0  # FAIL beyond
    skip: frozenset[str] = field(default_factory=frozenset)
