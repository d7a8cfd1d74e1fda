"""A serial QR reader as a scan source: pyserial on a reader thread, framing separate.

The thread opens the port (``/dev/ttyACM0``, ``/dev/ttyUSB0``, ``/dev/serial/by-id/...``),
reads whatever arrives, and feeds ``Framer``; each completed code goes to the event loop.
An unplugged reader (the read fails, the device node disappears) is closed, reported and
reopened with backoff once the node is back (``device.sources.reconnect``, the loop every
reader shares). Garbage is dropped with a counted reason, and so is the tail of a code cut
by a restart or a replug (the bytes before the first frame boundary after an open,
``partial_at_open``; see ``serial_framing``).
"""

from __future__ import annotations

import collections
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import serial

from device.sources.base import Scan
from device.sources.config import SerialSourceConfig
from device.sources.handoff import ScanHandoff
from device.sources.reconnect import ReaderHealth, Reconnector
from device.sources.serial_framing import Framer

log = logging.getLogger(__name__)

_PARITY = {
    "N": serial.PARITY_NONE,
    "E": serial.PARITY_EVEN,
    "O": serial.PARITY_ODD,
    "M": serial.PARITY_MARK,
    "S": serial.PARITY_SPACE,
}
_READ_CHUNK = 4096


class SerialSource:
    kind = "serial"

    def __init__(
        self,
        cfg: SerialSourceConfig,
        *,
        queue_size: int = 256,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.cfg = cfg
        self.name = cfg.source_name
        self.framer = Framer(
            terminator=cfg.terminator,
            idle_timeout_s=cfg.idle_timeout_s,
            max_length=cfg.max_length,
            min_length=cfg.min_length,
        )
        self._mono = monotonic
        self._wall = wall
        self._handoff = ScanHandoff(queue_size=queue_size)
        self._stop = self._handoff.stop
        self.health = ReaderHealth()
        self._reconnect: Reconnector[serial.Serial] = Reconnector(
            self.name, what="serial reader", stop=self._stop, health=self.health,
            backoff_s=cfg.reopen_backoff_s, backoff_cap_s=cfg.reopen_backoff_cap_s, logger=log)
        self.bytes_in = 0
        self.other_drops = self._handoff.drops  # drops outside the framer (queue_full)

    @property
    def scans_out(self) -> int:
        return self._handoff.delivered

    # -- the reader thread ---------------------------------------------------------------

    def _open(self) -> serial.Serial:
        cfg = self.cfg
        if not os.path.exists(cfg.port):
            raise serial.SerialException(f"{cfg.port} does not exist (unplugged?)")
        port = serial.Serial(
            port=cfg.port,
            baudrate=cfg.baud,
            parity=_PARITY[cfg.parity],
            bytesize=cfg.bytesize,
            stopbits=cfg.stopbits,
            # short reads: the idle gap that ends a frame is noticed within this
            timeout=min(0.05, cfg.idle_timeout_s / 3),
            xonxoff=False,
            rtscts=False,
            dsrdtr=False,
            exclusive=True,
        )
        # Opening cleared the input buffer: what comes first may be the tail of a code cut
        # by a restart or a replug; the framer drops it (``partial_at_open``).
        self.framer.opened(self._mono())
        return port

    def _worker(self) -> None:
        self._reconnect.run(self._open, self._read_loop, self._close)

    def _close(self, port: serial.Serial) -> None:
        self.framer.reset("disconnected")
        port.close()

    def _read_loop(self, port: serial.Serial) -> None:
        while not self._stop.is_set():
            data = port.read(max(1, min(port.in_waiting, _READ_CHUNK)))
            now = self._mono()
            if data:
                self.bytes_in += len(data)
                frames = self.framer.feed(data, now)
            else:
                frames = self.framer.tick(now)
                if not os.path.exists(self.cfg.port):
                    raise serial.SerialException(f"{self.cfg.port} disappeared (unplugged?)")
            for frame in frames:
                scan = Scan(payload=frame, source=self.name, t_mono=now, t_wall=self._wall())
                self._handoff.emit(scan)

    # -- the Source API ------------------------------------------------------------------

    def scans(self) -> AsyncIterator[Scan]:
        return self._handoff.stream(self._start_reader)

    def _start_reader(self) -> None:
        self._handoff.start_thread(self._worker, f"serial-{self.name}")

    def status(self) -> dict[str, Any]:
        drops = collections.Counter(self.framer.drops)
        drops.update(self.other_drops)
        return {
            "name": self.name,
            "kind": self.kind,
            "port": self.cfg.port,
            "connected": self.health.connected,
            "in_sync": self.framer.in_sync,
            "reopens": self.health.reopens,
            "open_failures": self.health.open_failures,
            "disconnects": self.health.disconnects,
            "bytes_in": self.bytes_in,
            "scans": self.scans_out,
            "drops": dict(drops),
            "discarded_bytes": self.framer.discarded_bytes,
            "last_error": self.health.last_error,
        }

    async def close(self) -> None:
        await self._handoff.close()
        self.health.connected = False
