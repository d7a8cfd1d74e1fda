"""The source seam: anything that yields scanned payloads with a time and an origin."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Scan:
    """One payload read by a source (after framing, before de-duplication)."""

    payload: bytes
    source: str  # e.g. "camera:0", "serial:/dev/ttyACM0", "sim-camera"
    t_mono: float  # time.monotonic() when the payload was complete
    t_wall: float  # time.time() at the same moment (untrusted; see device.clock.floor)

    @property
    def text(self) -> str:
        """The payload as text (QR codes of our formats are ASCII)."""
        return self.payload.decode("utf-8", errors="replace")


class Source(Protocol):
    """A scan source. ``scans()`` runs until ``close()``; faults are reported, not raised."""

    name: str

    def scans(self) -> AsyncIterator[Scan]:
        """Yield scans as they are read. Blocking I/O runs off the event loop."""
        ...

    def status(self) -> dict[str, Any]:
        """State for the status panel and /metrics (e.g. fps, connected, drop counts)."""
        ...

    async def close(self) -> None:
        ...
