"""The staff screen's enrolment panel: the terminal's enrolment QR (DPP style) for the
technician's phone, and the identity state (not enrolled, enrolling, revoked, ...).

    GET /api/enrolment   {"state", "uri"?, "gate_id"?, "days_left"?, "message"?, ...}
    GET /enrol/qr.png    the URI as a QR code (404 while the terminal takes no voucher)
    GET /enrol/qr.svg    the same, as SVG (the screen's <img>)
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

Enrolment = Callable[[], dict[str, Any]]


def _qr(uri: str, kind: str) -> bytes:
    import segno

    buf = io.BytesIO()
    segno.make(uri, error="m").save(buf, kind=kind, scale=8, border=4)
    return buf.getvalue()


def add_enrolment_routes(app: web.Application, enrolment: Enrolment) -> None:
    async def api(request: web.Request) -> web.Response:
        return web.json_response(enrolment(), dumps=lambda o: json.dumps(o, default=str))

    def qr(kind: str, content_type: str) -> Any:
        async def handler(request: web.Request) -> web.Response:
            uri = enrolment().get("uri")
            if not uri:
                raise web.HTTPNotFound(text="this terminal takes no enrolment voucher now")
            return web.Response(body=_qr(uri, kind), content_type=content_type,
                                headers={"Cache-Control": "no-store"})
        return handler

    app.router.add_get("/api/enrolment", api)
    app.router.add_get("/enrol/qr.png", qr("png", "image/png"))
    app.router.add_get("/enrol/qr.svg", qr("svg", "image/svg+xml"))
