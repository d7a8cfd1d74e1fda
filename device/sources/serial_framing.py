"""Framing of a serial QR reader's byte stream into codes (no I/O, no threads).

Like pyserial's ``LineReader`` protocol, this is separate from the reader thread
(``device.sources.serial_source``), so it is tested byte by byte.

- A code ends at the terminator (``b"\\r\\n"``, ``b"\\r"``, ``b"\\n"``) or, with no
  terminator configured, when no byte arrives for ``idle_timeout_s``.
- Binary-safe: any byte may be inside a code. With CRLF, a lone CR does not split.
- Partial reads are joined: bytes may arrive in any chunks.
- Dropped, with a counted reason (``drops``), never raised:
  ``noise``       fewer than ``min_length`` bytes (terminated, or left at an idle gap);
  ``incomplete``  a half code: ``min_length`` or more bytes with no terminator before an
                  idle gap (only when a terminator is configured);
  ``too_long``    more than ``max_length`` bytes without a terminator; the rest, up to
                  the next terminator or idle gap, is discarded as well (``discarded_bytes``).
  ``partial_at_open``  the bytes before the first frame boundary after the port was
                  (re)opened (see below).
- Memory is bounded by ``max_length`` whatever arrives (a megabyte flood included).

**After (re)opening** (``opened()``) the framer is out of sync: the reader may have been
in the middle of a code when the daemon restarted or the cable was replugged, and
pyserial clears the input buffer on open, so what arrives first can be the *tail* of a
code. Deciding it would show a person a red ✗ (``unknown_format``) for a code that was
fine. A reader sends a code in one burst at its baud rate (gaps between its bytes are far
shorter than ``idle_timeout_s``), and a fresh code starts on an idle line. So the framer
is back in sync at the first frame boundary it sees: an idle gap of ``idle_timeout_s``
counted from the open and seen by a read that found nothing (bytes that a busy reader
thread reads late may have arrived at once), or a terminator. Bytes before that boundary
are dropped as one ``partial_at_open``. The price: a code that *starts* within
``idle_timeout_s`` of the open is dropped too (the reader beeped, the gate stays shut,
no ✗; the person scans again). ``in_sync`` says which state the framer is in.
"""

from __future__ import annotations

import collections


class Framer:
    def __init__(
        self,
        *,
        terminator: bytes = b"\r\n",
        idle_timeout_s: float = 0.15,
        max_length: int = 8192,
        min_length: int = 4,
    ) -> None:
        if len(terminator) > 2:
            raise ValueError("terminator must be 0 to 2 bytes")
        self.terminator = terminator
        self.idle_timeout_s = idle_timeout_s
        self.max_length = max_length
        self.min_length = min_length
        self._buf = bytearray()
        self._discarding = False
        self._last_byte_t: float | None = None
        self._tail = b""  # the last byte of the pending frame (kept while discarding too)
        self._syncing = False  # after opened(): until the first frame boundary
        self.drops: collections.Counter[str] = collections.Counter()
        self.discarded_bytes = 0
        self.frames = 0

    @property
    def in_sync(self) -> bool:
        """False from ``opened()`` until the first idle gap or terminator."""
        return not self._syncing

    def opened(self, now: float) -> None:
        """The port was (re)opened at monotonic ``now``: forget pending bytes and treat
        what arrives before the first frame boundary as the tail of a cut code."""
        self.reset()
        self._syncing = True
        self._last_byte_t = now  # the idle gap that proves a boundary counts from here

    @property
    def pending(self) -> int:
        """Bytes held waiting for a terminator or an idle gap."""
        return len(self._buf)

    def feed(self, data: bytes, now: float) -> list[bytes]:
        """Bytes read at monotonic time ``now``; returns the codes completed by them."""
        out: list[bytes] = []
        if not data:
            return out
        # An idle gap before these bytes ends whatever was pending. Not while out of sync:
        # bytes read late (the reader thread was busy right after the open) may have
        # arrived at once; only an empty read (``tick``) proves the line was quiet.
        if not self._syncing:
            out.extend(self.tick(now))
        self._last_byte_t = now
        term = self.terminator
        if not term:
            self._append(data)
            return out
        start = 0
        while start < len(data):
            # a terminator may straddle the previous chunk and this one
            if len(term) == 2 and self._tail == term[:1] and data[start : start + 1] == term[1:]:
                if self._buf and not self._discarding:
                    self._buf.pop()
                out.extend(self._end_frame())
                start += 1
                continue
            idx = data.find(term, start)
            if idx < 0:
                self._append(data[start:])
                break
            self._append(data[start:idx])
            out.extend(self._end_frame())
            start = idx + len(term)
        return out

    def tick(self, now: float) -> list[bytes]:
        """Call when no bytes came (a read timed out); ends a frame at an idle gap."""
        if self._last_byte_t is None or now - self._last_byte_t < self.idle_timeout_s:
            return []
        self._last_byte_t = None
        self._tail = b""
        syncing, self._syncing = self._syncing, False
        if self._discarding:
            self._discarding = False
            self._buf.clear()
            return []
        if not self._buf:
            return []
        frame = bytes(self._buf)
        self._buf.clear()
        if syncing:
            self.drops["partial_at_open"] += 1
            return []
        if len(frame) < self.min_length:
            self.drops["noise"] += 1
            return []
        if self.terminator:
            self.drops["incomplete"] += 1
            return []
        self.frames += 1
        return [frame]

    def reset(self, reason: str = "disconnected") -> None:
        """Forget pending bytes (the port closed); counts a drop if any were pending."""
        if self._buf and not self._discarding:
            self.drops["partial_at_open" if self._syncing else reason] += 1
        self._buf.clear()
        self._discarding = False
        self._syncing = False
        self._last_byte_t = None
        self._tail = b""

    def _append(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._tail = chunk[-1:]
        if self._discarding:
            self.discarded_bytes += len(chunk)
            return
        room = self.max_length - len(self._buf)
        if len(chunk) <= room:
            self._buf += chunk
            return
        # too long: drop it all, and the rest of it up to the next terminator / idle gap
        self.drops["too_long"] += 1
        self.discarded_bytes += len(self._buf) + len(chunk)
        self._buf.clear()
        self._discarding = True

    def _end_frame(self) -> list[bytes]:
        self._tail = b""
        syncing, self._syncing = self._syncing, False
        if self._discarding:
            self._discarding = False
            self._buf.clear()
            return []
        frame = bytes(self._buf)
        self._buf.clear()
        if syncing:  # a terminator was seen, so bytes did arrive: the tail of a cut code
            self.drops["partial_at_open"] += 1
            return []
        if len(frame) < self.min_length:
            if frame:
                self.drops["noise"] += 1
            else:
                self.drops["empty"] += 1
            return []
        self.frames += 1
        return [frame]
