"""aiohttp server for the staff screen, /events (SSE), /api/status, /healthz, /metrics.

Bound to 127.0.0.1 by default: the kiosk browser runs on the terminal itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from device.web.hub import Hub

log = logging.getLogger(__name__)

STATIC_FILES = {"index.html": "text/html", "screen.js": "text/javascript",
                "screen.css": "text/css", "enrol.js": "text/javascript"}
KEEPALIVE_S = 15.0


class ScreenServer:
    """Serves the screen; the daemon supplies the data through callables.

    ``refresh()`` (optional) brings cached data (journal statistics) up to date before a
    pulled answer (/api/status, /healthz, /metrics); pushed status uses the cache.

    ``status()`` → the status panel's dict; ``health()`` → (healthy, details);
    ``metrics()`` → Prometheus text; ``display_s`` → verdict display time.
    """

    def __init__(self, *, hub: Hub, status: Callable[[], dict[str, Any]],
                 health: Callable[[], tuple[bool, dict[str, Any]]],
                 metrics: Callable[[], str], display_s: float = 4.0,
                 refresh: Callable[[], Awaitable[None]] | None = None,
                 host: str = "127.0.0.1", port: int = 8080,
                 enrolment: Callable[[], dict[str, Any]] | None = None) -> None:
        self.hub = hub
        self._status = status
        self._health = health
        self._metrics = metrics
        self._refresh = refresh
        self.display_s = display_s
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None
        self._streams: set[asyncio.Task[Any]] = set()
        self.app = web.Application()
        self.app.router.add_get("/", self._index)
        self.app.router.add_get("/static/{name}", self._static)
        self.app.router.add_get("/events", self._events)
        self.app.router.add_get("/api/status", self._api_status)
        self.app.router.add_get("/healthz", self._healthz)
        self.app.router.add_get("/metrics", self._metrics_handler)
        if enrolment is not None:
            from device.web.enrol import add_enrolment_routes

            add_enrolment_routes(self.app, enrolment)
        self._files: dict[str, bytes] = {}
        base = resources.files("device.web") / "static"
        for name in STATIC_FILES:
            self._files[name] = (base / name).read_bytes()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/"

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        if self.port == 0 and server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        log.info("staff screen at %s", self.url)

    async def stop(self) -> None:
        self.hub.close()
        for t in list(self._streams):
            t.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- handlers ---------------------------------------------------------------

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(body=self._files["index.html"], content_type="text/html",
                            charset="utf-8", headers={"Cache-Control": "no-store"})

    async def _static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(body=self._files[name], content_type=STATIC_FILES[name],
                            charset="utf-8", headers={"Cache-Control": "no-store"})

    async def _events(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        })
        await resp.prepare(request)
        q = self.hub.subscribe()
        task = asyncio.current_task()
        if task is not None:
            self._streams.add(task)
        try:
            hello = {"display_s": self.display_s, "status": self._status(),
                     "last_verdict": self.hub.last_verdict}
            await resp.write(("retry: 1000\n" + Hub.frame("hello", hello)).encode())
            while True:
                try:
                    text = await asyncio.wait_for(q.get(), KEEPALIVE_S)
                except TimeoutError:
                    text = ": keepalive\n\n"
                if text is None:
                    break
                await resp.write(text.encode())
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.hub.unsubscribe(q)
            if task is not None:
                self._streams.discard(task)
        with contextlib.suppress(Exception):
            await resp.write_eof()
        return resp

    async def _fresh(self) -> None:
        if self._refresh is not None:
            await self._refresh()

    async def _api_status(self, request: web.Request) -> web.Response:
        await self._fresh()
        return web.json_response(self._status(), dumps=_dumps)

    async def _healthz(self, request: web.Request) -> web.Response:
        await self._fresh()
        ok, details = self._health()
        return web.json_response({"ok": ok, **details}, status=200 if ok else 503, dumps=_dumps)

    async def _metrics_handler(self, request: web.Request) -> web.Response:
        await self._fresh()
        return web.Response(body=self._metrics().encode(), headers={
            "Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, default=str)
