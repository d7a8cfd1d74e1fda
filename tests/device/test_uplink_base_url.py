"""uplink.base_url is the centre's root: the terminal appends /v1/... itself.

The shipped example once had ``.../api/v1`` and every request went to
``.../api/v1/v1/records``; such a base_url is now refused with the URL to use.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from device.clock import SystemClock
from device.config import parse_config
from device.errors import ConfigError
from device.journal import Batch
from device.uplink.client import CentralClient
from tests.device.uplink_support import config


@pytest.mark.parametrize("url, use", [
    ("https://central.example.cn/api/v1", "https://central.example.cn/api"),
    ("https://central.example.cn/api/v1/", "https://central.example.cn/api"),
    ("https://central.example.cn/v1", "https://central.example.cn"),
    ("http://127.0.0.1:8300/V1", "http://127.0.0.1:8300"),
])
def test_a_base_url_ending_in_the_version_is_refused(url: str, use: str) -> None:
    with pytest.raises(ConfigError) as err:
        config(url)
    assert f"use base_url = {use!r}" in str(err.value)
    assert "/v1/records" in str(err.value)


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999", "http://127.0.0.1:abc",
                                 "http://[::1", "https://exa mple.com", "http://127.0.0.1:0"])
def test_a_bad_host_or_port_is_refused_at_configuration(url: str) -> None:
    with pytest.raises(ConfigError, match=r"uplink\.base_url = .*not a valid"):
        config(url)


def test_query_or_fragment_refused() -> None:
    for url in ("https://central.example.cn/?x=1", "https://central.example.cn/#top"):
        with pytest.raises(ConfigError, match="no query or fragment"):
            config(url)


def test_config_file_names_the_key(tmp_path: Path) -> None:
    doc = {"terminal_id": "t-1", "sources": [{"type": "serial", "port": "/dev/ttyACM0"}],
           "trust": {"root_key": "root.pem"},
           "uplink": {"base_url": "https://central.example.cn/api/v1", "ca_file": "ca.pem"}}
    with pytest.raises(ConfigError, match=r"uplink\.base_url = 'https://central"):
        parse_config(doc, base_dir=tmp_path)


class _Recorder(BaseHTTPRequestHandler):
    paths: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.paths.append(self.path)
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.paths.append(self.path)
        self.send_response(304)
        self.send_header("ETag", '"v1"')
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    paths: list[str] = []
    handler = type("Handler", (_Recorder,), {"paths": paths})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", paths
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize("prefix", ["", "/", "/scangate", "/scangate/"])
def test_requests_go_to_base_url_plus_the_versioned_path(
        prefix: str, recorder: tuple[str, list[str]]) -> None:
    root, paths = recorder

    async def send() -> None:
        async with CentralClient(config(root + prefix), clock=SystemClock()) as client:
            await client.heartbeat({"ok": True})
            await client.upload(Batch(1, "key-1", (), 1))
            await client.fetch_trust_list('"v1"')

    asyncio.run(send())
    base = prefix.rstrip("/")
    assert paths == [base + "/v1/heartbeat", base + "/v1/records", base + "/v1/trust-list"]
