"""The staff screen over real HTTP: page, SSE push, /api/status, /healthz, /metrics."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from gpiozero.pins.mock import MockFactory

from device.daemon.app import Daemon
from device.daemon.pipeline import Outcome
from tests.device.daemon_kit import FedSource, asynctest, load, make_site


async def started(tmp_path: Path, **site: Any) -> tuple[Daemon, FedSource, Any, list[Outcome]]:
    path, keys = make_site(tmp_path, extra="[dedupe]\nwindow_s = 0.0\n", **site)
    src = FedSource()
    outs: list[Outcome] = []
    d = Daemon(load(path), pin_factory=MockFactory(), sources=[src], write_log=lambda _: None,
               on_outcome=outs.append)
    await d.start()
    return d, src, keys, outs


async def read_events(resp: httpx.Response, want: str, n: int = 1) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    event = ""
    async for line in resp.aiter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event == want:
            got.append(json.loads(line[6:]))
            if len(got) >= n:
                return got
    return got


@asynctest
async def test_page_and_static_files(tmp_path: Path) -> None:
    d, _, _, _ = await started(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            page = await c.get("/")
            assert page.status_code == 200 and "text/html" in page.headers["content-type"]
            assert "请出示健康码" in page.text and "/static/screen.js" in page.text
            js = await c.get("/static/screen.js")
            assert js.status_code == 200 and "EventSource" in js.text
            assert (await c.get("/static/../config.py")).status_code == 404
            assert (await c.get("/static/nope.js")).status_code == 404
        assert d.screen.host == "127.0.0.1"
    finally:
        await d.stop()


@asynctest
async def test_verdicts_are_pushed_over_sse(tmp_path: Path) -> None:
    d, src, keys, _outs = await started(tmp_path)
    try:
        async with httpx.AsyncClient(base_url=d.screen.url, timeout=5) as c, \
                c.stream("GET", "/events") as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            reader = asyncio.create_task(read_events(resp, "verdict", 2))
            await asyncio.sleep(0.2)
            assert d.hub.clients == 1
            src.feed(keys.issuer().mint("green"))
            src.feed("not a code")
            events = await asyncio.wait_for(reader, 5)
        ok, bad = events
        assert ok["decision"] == "accept" and ok["message_zh"] == "通过"
        assert ok["profile"] == "scangate" and ok["status"] == "green" and ok["exp"] > 0
        assert bad["decision"] == "deny" and bad["reason"] == "unknown_format"
        assert bad["message_en"] == "Not a recognised code"
        assert ok["t_decision_ms"] > 0 and "code_id" not in ok and "subject_ref" not in ok
    finally:
        await d.stop()


@asynctest
async def test_status_is_pushed_and_served(tmp_path: Path) -> None:
    d, src, keys, _outs = await started(tmp_path)
    try:
        src.feed(keys.issuer().mint("green"))
        src.feed(keys.issuer().mint("red"))
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=d.screen.url, timeout=5) as c:
            async with c.stream("GET", "/events") as resp:
                (hello,) = await asyncio.wait_for(read_events(resp, "hello"), 5)
                assert hello["display_s"] == 2
            async with c.stream("GET", "/events") as resp:
                (status,) = await asyncio.wait_for(read_events(resp, "status"), 5)
            st = (await c.get("/api/status")).json()
        for s in (status, st):
            assert s["today"]["accept"] == 1 and s["today"]["deny"] == 1
            assert s["trust"]["version"] == 1 and s["trust"]["stale"] is False
            assert s["journal"]["pending"] == 2
            assert s["uplink"]["configured"] is False
            assert s["clock"]["quality"] in ("synced", "floor", "unsure")
            assert s["sources"][0]["connected"] is True
    finally:
        await d.stop()


@asynctest
async def test_healthz_and_metrics(tmp_path: Path) -> None:
    d, src, keys, _outs = await started(tmp_path)
    try:
        src.feed(keys.issuer().mint("green"))
        src.feed(keys.issuer().mint("yellow"))
        await asyncio.sleep(0.3)
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            h = await c.get("/healthz")
            assert h.status_code == 200 and h.json()["ok"] is True
            assert h.json()["checks"]["journal"] is True
            m = await c.get("/metrics")
        assert m.headers["content-type"].startswith("text/plain; version=0.0.4")
        text = m.text
        for needle in (
            'scangate_decisions_total{decision="accept",reason="ok"} 1',
            'scangate_decisions_total{decision="deny",reason="status_yellow"} 1',
            'scangate_scans_total{source="test:feed"} 2',
            "scangate_decision_latency_ms_count 2",
            "scangate_verify_ms_count 2",
            "scangate_journal_commit_ms_count 2",
            "scangate_sync_backlog_records 2",
            "scangate_trust_list_version 1",
            "scangate_trust_list_stale 0",
            "# TYPE scangate_decision_latency_ms histogram",
            'scangate_source_connected{source="test:feed"} 1',
            "scangate_gate_opens_total 1",
        ):
            assert needle in text, needle
        assert 'scangate_clock_state{state="' in text
    finally:
        await d.stop()


@asynctest
async def test_healthz_503_without_a_trust_list(tmp_path: Path) -> None:
    d, _src, _keys, _outs = await started(tmp_path)
    try:
        d.verifier.__init__((), policy=d.verifier.policy)  # as if no list were installed
        async with httpx.AsyncClient(base_url=d.screen.url) as c:
            h = await c.get("/healthz")
        assert h.status_code == 503
        assert h.json()["checks"]["trust_list"] is False and h.json()["ok"] is False
    finally:
        await d.stop()
