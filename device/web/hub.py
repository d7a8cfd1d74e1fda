"""Fan-out of events to the connected staff screens (one bounded queue per client)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

_CLOSE: Any = None


class Hub:
    """``publish()`` never blocks and never waits for a slow page: a full queue drops."""

    def __init__(self, *, queue_size: int = 64) -> None:
        self.queue_size = queue_size
        self._clients: set[asyncio.Queue[str | None]] = set()
        self.dropped = 0
        self.last_verdict: dict[str, Any] | None = None

    @property
    def clients(self) -> int:
        return len(self._clients)

    def subscribe(self) -> asyncio.Queue[str | None]:
        q: asyncio.Queue[str | None] = asyncio.Queue(maxsize=self.queue_size)
        self._clients.add(q)
        return q

    def unsubscribe(self, q: asyncio.Queue[str | None]) -> None:
        self._clients.discard(q)

    @staticmethod
    def frame(event: str, data: dict[str, Any]) -> str:
        body = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        return f"event: {event}\ndata: {body}\n\n"

    def publish(self, event: str, data: dict[str, Any]) -> None:
        if event == "verdict":
            self.last_verdict = data
        if not self._clients:
            return
        text = self.frame(event, data)
        for q in list(self._clients):
            try:
                q.put_nowait(text)
            except asyncio.QueueFull:
                self.dropped += 1

    def close(self) -> None:
        """Tell every stream to end (at shutdown)."""
        for q in list(self._clients):
            while True:
                try:
                    q.put_nowait(_CLOSE)
                    break
                except asyncio.QueueFull:
                    q.get_nowait()
