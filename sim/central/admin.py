"""The stand-in centre's admin API: drive its faults and read what it stored, over HTTP.

Not part of the central API a terminal uses (docs/central-api.md, "The stand-in's admin
API"): a black-box test, the fleet simulation or a person at a shell drives the
stand-in with it instead of importing it or opening its SQLite file.

It listens on its own port (loopback by default, no authentication: it is a test tool),
so the ``down`` fault, which resets every connection the centre accepts, cannot lock
the admin out, and no fault ever touches an admin request.

    GET    /admin                         what is here
    GET    /admin/faults                  {"faults": [...], "injected": {kind: n}}
    POST   /admin/faults                  {"faults": [spec | {...}], "mode": "replace"|"append"}
    DELETE /admin/faults                  clear
    GET    /admin/records?after=&limit=&terminal=      {"records": [...], "next": c, "more": b}
    GET    /admin/heartbeats?after=&limit=&terminal=   the same for heartbeats
    GET    /admin/stats                   counts and the request counters

    admin = AdminServer(central).start(); admin.url; ...; admin.stop()
"""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sim.central.faults import options_from_json
from sim.central.store import MAX_PAGE
from sim.errors import ScenarioError, SimError

if TYPE_CHECKING:
    from sim.central.server import CentralServer

log = logging.getLogger(__name__)

MAX_BODY = 1 * 2**20
ENDPOINTS = [
    "GET /admin/faults", "POST /admin/faults", "DELETE /admin/faults",
    "GET /admin/records?after=&limit=&terminal=", "GET /admin/heartbeats?after=&limit=&terminal=",
    "GET /admin/stats",
]

ROUTES = {
    ("GET", "/admin"): "_get_index",
    ("GET", "/admin/faults"): "_get_faults",
    ("POST", "/admin/faults"): "_post_faults",
    ("DELETE", "/admin/faults"): "_delete_faults",
    ("GET", "/admin/records"): "_get_records",
    ("GET", "/admin/heartbeats"): "_get_heartbeats",
    ("GET", "/admin/stats"): "_get_stats",
}


class _BadRequest(Exception):
    pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _AdminHTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("central admin %s " + format, self.client_address[0], *args)

    def _json(self, status: int, doc: Any) -> None:
        body = json.dumps(doc, sort_keys=True, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> Any:
        length = self.headers.get("Content-Length", "0")
        if not length.isdigit() or int(length) > MAX_BODY:
            raise _BadRequest(f"Content-Length required, at most {MAX_BODY} bytes")
        raw = self.rfile.read(int(length))
        try:
            return json.loads(raw or b"{}")
        except ValueError as exc:
            raise _BadRequest(f"body is not JSON: {exc}") from None

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        path = url.path.rstrip("/")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        name = ROUTES.get((method, path))
        try:
            if name is None:
                self.close_connection = True  # a body may be left unread
                self._json(404, {"error": f"no such admin endpoint {method} {path}",
                                 "endpoints": ENDPOINTS})
                return
            getattr(self, name)(query)
        except (_BadRequest, ScenarioError) as exc:
            self.close_connection = True
            self._json(400, {"error": str(exc)})

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- routes --------------------------------------------------------------------------
    def _get_index(self, query: dict[str, str]) -> None:
        self._json(200, {"stand_in": True, "central": self.server.central.url,
                         "endpoints": ENDPOINTS})

    def _faults_doc(self) -> dict[str, Any]:
        faults = self.server.central.faults
        return {"faults": [f.to_json() for f in faults.active()],
                "injected": dict(faults.injected)}

    def _get_faults(self, query: dict[str, str]) -> None:
        self._json(200, self._faults_doc())

    def _post_faults(self, query: dict[str, str]) -> None:
        doc = self._body()
        if isinstance(doc, list | str):
            doc = {"faults": doc if isinstance(doc, list) else [doc]}
        if not isinstance(doc, dict) or not isinstance(doc.get("faults"), list):
            raise _BadRequest('body: {"faults": ["partition:0.2", {"kind": "503", ...}], '
                              '"mode": "replace" | "append"}')
        mode = doc.get("mode", "replace")
        if mode not in ("replace", "append"):
            raise _BadRequest(f"mode {mode!r}: replace or append")
        parsed = [options_from_json(f) for f in doc["faults"]]  # all valid, or none set
        faults = self.server.central.faults
        if mode == "replace":
            faults.replace_all(parsed)
        else:
            for kind, options in parsed:
                faults.add(kind, **options)
        log.info("central admin: faults now %s", [f.kind for f in faults.active()])
        self._json(200, self._faults_doc())

    def _delete_faults(self, query: dict[str, str]) -> None:
        self.server.central.faults.clear()
        self._json(200, self._faults_doc())

    def _page_args(self, query: dict[str, str]) -> dict[str, Any]:
        try:
            after = int(query.get("after", "0"))
            limit = int(query.get("limit", "1000"))
        except ValueError:
            raise _BadRequest("after and limit are integers") from None
        if after < 0 or not 1 <= limit <= MAX_PAGE:
            raise _BadRequest(f"after >= 0, 1 <= limit <= {MAX_PAGE}")
        return {"after": after, "limit": limit, "terminal_id": query.get("terminal")}

    def _get_records(self, query: dict[str, str]) -> None:
        args = self._page_args(query)
        records, cursor = self.server.central.store.records_page(**args)
        self._json(200, {"records": records, "next": cursor,
                         "more": len(records) == args["limit"]})

    def _get_heartbeats(self, query: dict[str, str]) -> None:
        args = self._page_args(query)
        beats, cursor = self.server.central.store.heartbeats_page(**args)
        self._json(200, {"heartbeats": beats, "next": cursor,
                         "more": len(beats) == args["limit"]})

    def _get_stats(self, query: dict[str, str]) -> None:
        central = self.server.central
        self._json(200, {
            "records": central.store.record_count(),
            "max_times_received": central.store.max_times_received(),
            "keys_in_flight": central.store.keys_in_flight(),
            **central.metrics.snapshot(),
        })


class _AdminHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    central: CentralServer


class AdminServer:
    """The admin API of a running ``CentralServer`` on its own port."""

    def __init__(self, central: CentralServer, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.central = central
        self.host = host
        self.port = port
        self._httpd: _AdminHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> AdminServer:
        try:
            httpd = _AdminHTTPServer((self.host, self.port), _Handler)
        except (OSError, OverflowError) as exc:
            raise SimError(f"admin API cannot listen on {self.host}:{self.port}: {exc}") from exc
        httpd.central = self.central
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="central-admin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/admin"

    def __enter__(self) -> AdminServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
