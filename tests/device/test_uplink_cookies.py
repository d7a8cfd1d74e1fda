"""A cookie set by what sits in front of the centre (a load balancer's stickiness) is
kept and sent back, as httpx does; the client only skips the cookie jar for answers
that set none (device/uplink/client.py ``_CookiesWhenSet``)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from device.clock import SystemClock
from device.uplink.client import CentralClient
from tests.device.uplink_support import config


class _Sticky(BaseHTTPRequestHandler):
    """Sets ``lb=node-2`` on the first answer only; records each request's Cookie."""

    seen: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        first = not self.seen
        self.seen.append(self.headers.get("Cookie"))
        body = b"{}"
        self.send_response(200)
        if first:
            self.send_header("Set-Cookie", "lb=node-2; Path=/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sticky() -> Iterator[tuple[str, list[str | None]]]:
    seen: list[str | None] = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Sticky,), {"seen": seen}))
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_cookie_set_in_front_of_the_centre_is_sent_back(
        sticky: tuple[str, list[str | None]]) -> None:
    root, seen = sticky

    async def send() -> None:
        async with CentralClient(config(root), clock=SystemClock()) as client:
            for _ in range(3):
                await client.heartbeat({"ok": True})

    asyncio.run(send())
    # The first request has no cookie; the later ones carry the one set by the first
    # answer, also after an answer that set none.
    assert seen == [None, "lb=node-2", "lb=node-2"]
