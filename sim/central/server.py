"""The stand-in central engine: a real HTTP(S) server over a real SQLite file.

Implements docs/central-api.md with the stdlib ``ThreadingHTTPServer`` (one thread per
connection, HTTP/1.1 keep-alive) so that faults can act on the raw socket: resets,
truncated bodies, responses dropped after the work is stored (see ``faults.py``).

    server = CentralServer(tmp / "central.db", trust_list_path=keys.trust_list)
    server.start(); ...; server.faults.set("503", retry_after="5"); ...; server.stop()
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import json
import logging
import socket
import ssl
import struct
import threading
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sim.central.ca import CentralCA
from sim.central.enrol_api import HANDLERS as ENROL_HANDLERS
from sim.central.enrol_api import ROUTES as ENROL_ROUTES
from sim.central.enrol_api import identify
from sim.central.faults import Fault, Faults
from sim.central.metrics import Metrics
from sim.central.pki import Provisioning
from sim.central.store import CentralStore, StoreResult
from sim.errors import SimError

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 64 * 2**20
MAX_INFLATED_BYTES = 256 * 2**20
MAX_KEY_LEN = 200
ROUTES = {
    ("POST", "/v1/records"): "upload",
    ("POST", "/v1/heartbeat"): "heartbeat",
    ("GET", "/v1/trust-list"): "trust-list",
    **ENROL_ROUTES,  # provisioning: EST enrolment, renewal, identity, retire (enrol_api.py)
}


@dataclass(frozen=True)
class CentralPacing:
    """What the centre asks of every terminal, sent in each upload response."""

    max_batch: int | None = None
    min_interval_s: float | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.max_batch is not None:
            out["max_batch"] = self.max_batch
        if self.min_interval_s is not None:
            out["min_interval_s"] = self.min_interval_s
        return out


class _Dropped(Exception):
    """The connection was deliberately killed by a fault; stop handling it."""


def _reset(sock: socket.socket) -> None:
    """Close with an RST (SO_LINGER 0) instead of an orderly FIN."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer
    timeout = 30
    _status: int = 0
    _body_read: bool = False
    _recorded: bool = False
    _endpoint: str = "unknown"
    _terminal: str = "unknown"
    _fault_kind: str | None = None
    _peer: Any = None  # the verified client certificate (mutual TLS), if any

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every answer.
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("central %s " + format, self.client_address[0], *args)

    # -- plumbing ----------------------------------------------------------------------
    def _central(self) -> CentralServer:
        return self.server.central

    def _send(
        self,
        status: int,
        body: bytes = b"",
        *,
        content_type: str = "application/json",
        headers: Mapping[str, str] | None = None,
        truncate: bool = False,
    ) -> None:
        self._record(status)
        self.send_response(status)
        extra = dict(headers or {})
        self.send_header("Content-Type", extra.pop("Content-Type", content_type))
        self.send_header("Content-Length", str(len(body)))
        if not self._body_read and self.headers.get("Content-Length", "0") != "0":
            # The request body was not read: this connection cannot carry another request.
            self.send_header("Connection", "close")
            self.close_connection = True
        for k, v in extra.items():
            self.send_header(k, v)
        self.end_headers()
        if truncate:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            raise _Dropped()
        if body:
            self.wfile.write(body)

    def _record(self, status: int) -> None:
        """Count this request once, BEFORE the client can see the outcome (tests read the
        counters as soon as their call returns)."""
        self._status = status
        if not self._recorded:
            self._recorded = True
            self._central().metrics.request(self._endpoint, self._terminal, status,
                                            self._fault_kind)

    def _kill(self) -> None:
        """Reset the connection (no response) after counting the request."""
        self._record(0)
        _reset(self.connection)
        raise _Dropped()

    def _json(self, status: int, doc: dict[str, Any], **kw: Any) -> None:
        self._send(status, json.dumps(doc, sort_keys=True).encode(), **kw)

    def date_time_string(self, timestamp: float | None = None) -> str:
        return formatdate(timestamp if timestamp is not None else time.time(), usegmt=True)

    def _read_body(self, limit: int) -> bytes:
        length_text = self.headers.get("Content-Length")
        if length_text is None or not length_text.isdigit():
            self._json(411, {"error": "Content-Length required"})
            raise _Dropped()
        length = int(length_text)
        if length > limit:
            self._json(413, {"error": f"body over {limit} bytes"})
            raise _Dropped()
        data = self.rfile.read(length)
        self._body_read = True
        wire = self._central().wire
        if wire is not None:
            wire.append({"path": self.path, "body": data})
        return data

    # -- dispatch ----------------------------------------------------------------------
    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        central = self._central()
        path = self.path.split("?", 1)[0]
        endpoint = ROUTES.get((method, path))
        self._status = 0
        self._body_read = False
        self._recorded = False
        self._endpoint = endpoint or "unknown"
        self._fault_kind = None
        terminal = self.headers.get("X-Scangate-Terminal", "unknown")[:64]
        self._terminal = terminal
        if central.wire is not None:  # tests inspect everything the centre received
            central.wire.append({"method": method, "path": self.path,
                                 "headers": dict(self.headers.items())})
        try:
            if central.faults.is_down():
                central.faults.count_down()
                self._fault_kind = "down"
                self._kill()
            if endpoint is None:
                self._json(404, {"error": f"no such endpoint {method} {path}"})
                return
            self._peer = None
            if central.provisioning is not None:  # mutual TLS (enrol_api.identify)
                go, who = identify(self, central, endpoint)
                if who is not None:
                    terminal = self._terminal = who
                if not go:
                    return
            else:
                authed = central.authenticate(self.headers.get("Authorization"))
                if authed is False:
                    self._json(401, {"error": "bearer token missing or unknown"},
                               headers={"WWW-Authenticate": "Bearer"})
                    return
                if isinstance(authed, str):
                    terminal = self._terminal = authed
            fault = central.faults.take(endpoint)
            self._fault_kind = fault.kind if fault else None
            if fault is not None and self._pre_fault(fault, endpoint):
                return
            if endpoint in ENROL_HANDLERS and central.provisioning is None:
                if "Content-Length" in self.headers:
                    self._read_body(MAX_BODY_BYTES)
                self._json(501, {"error": "this stand-in has no CA and enrols no terminals; "
                                 "start it with one (scangate sim central --tls DIR)"})
            elif endpoint in ENROL_HANDLERS:
                ENROL_HANDLERS[endpoint](self, terminal, fault)
            else:
                getattr(self, "_ep_" + endpoint.replace("-", "_"))(terminal, fault)
        except _Dropped:
            self.close_connection = True
        except (ConnectionError, TimeoutError, ssl.SSLError, OSError):
            self.close_connection = True
        finally:
            self._record(self._status)

    def _pre_fault(self, fault: Fault, endpoint: str) -> bool:
        """Faults that act before any processing. True: the request is finished."""
        central = self._central()
        if fault.kind in ("500", "503", "429", "status"):
            if "Content-Length" in self.headers:
                self._read_body(MAX_BODY_BYTES)
            code = fault.code if fault.kind == "status" else int(fault.kind)
            headers = {"Retry-After": fault.retry_after} if fault.retry_after else {}
            doc: dict[str, Any] = {"error": f"injected {code}"}
            if endpoint == "upload":
                doc.update(central.pacing.fields())
            self._json(code, doc, headers=headers)
            return True
        if fault.kind == "reset":
            if "Content-Length" in self.headers:
                self._read_body(MAX_BODY_BYTES)
            self._kill()
        if fault.kind == "slow" and endpoint != "upload":
            central.sleep(fault.delay_s)
        return False

    def _finish_with_fault(
        self,
        fault: Fault | None,
        status: int,
        body: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        if fault is not None and fault.kind == "partition":
            self._kill()
        truncate = fault is not None and fault.kind == "truncate"
        self._send(status, body, headers=headers, truncate=truncate)

    # -- endpoints -----------------------------------------------------------------------
    def _ep_upload(self, terminal: str, fault: Fault | None) -> None:
        central = self._central()
        key = self.headers.get("Idempotency-Key", "")
        raw = self._read_body(MAX_BODY_BYTES)
        if not key or len(key) > MAX_KEY_LEN:
            self._json(400, {"error": f"Idempotency-Key header required (1..{MAX_KEY_LEN} chars)"})
            return
        try:
            body = _inflate(raw) if self.headers.get("Content-Encoding") == "gzip" else raw
            doc = json.loads(body)
        except (OSError, EOFError, zlib.error, ValueError, UnicodeDecodeError) as exc:
            self._json(400, {"error": f"body is not gzip JSON: {type(exc).__name__}"})
            return
        records = doc.get("records") if isinstance(doc, dict) else None
        if not isinstance(records, list) or not all(
            isinstance(r, dict) and isinstance(r.get("record_id"), str) and r["record_id"]
            for r in records
        ):
            self._json(400, {"error": "body must be {'records': [{'record_id': str, ...}]}"})
            return
        if (isinstance(doc.get("terminal_id"), str) and not central.tokens
                and central.provisioning is None):
            terminal = self._terminal = doc["terminal_id"][:64]
        digest = hashlib.sha256(body).hexdigest()
        claim = central.store.claim(terminal, key, digest)
        pacing = central.pacing.fields()
        if claim.state == "mismatch":
            central.metrics.count("idempotency_mismatch")
            self._json(422, {"error": "Idempotency-Key reused with a different body", **pacing})
            return
        if claim.state == "in_flight":
            central.metrics.count("idempotency_in_flight")
            self._json(409, {"error": "a request with this Idempotency-Key is in progress",
                             **pacing}, headers={"Retry-After": "1"})
            return
        if claim.state == "replay":
            central.metrics.count("idempotency_replay")
            self._finish_with_fault(fault, claim.status or 200, (claim.response or "").encode(),
                                    {"Idempotent-Replayed": "true"})
            return
        try:
            if fault is not None and fault.kind == "slow":
                central.sleep(fault.delay_s)

            def respond(result: StoreResult) -> str:
                return json.dumps({"accepted": len(records), "stored": result.stored,
                                   "duplicates": result.duplicates, **pacing}, sort_keys=True)

            result, text = central.store.store_batch(terminal, key, records, respond)
        except BaseException:
            central.store.release(terminal, key)
            raise
        central.metrics.records(len(records), result.stored, result.duplicates)
        self._finish_with_fault(fault, 200, text.encode())

    def _ep_heartbeat(self, terminal: str, fault: Fault | None) -> None:
        raw = self._read_body(1 * 2**20)
        try:
            doc = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            self._json(400, {"error": "heartbeat body must be JSON"})
            return
        if not isinstance(doc, dict):
            self._json(400, {"error": "heartbeat body must be a JSON object"})
            return
        self._central().store.add_heartbeat(terminal, doc)
        body = json.dumps({"ok": True, "server_time": time.time()}).encode()
        self._finish_with_fault(fault, 200, body)

    def _ep_trust_list(self, terminal: str, fault: Fault | None) -> None:
        data = self._central().trust_list()
        if data is None:
            self._json(404, {"error": "no trust list published"})
            return
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        if _etag_matches(self.headers.get("If-None-Match"), etag):
            self._record(304)
            self.send_response(304)
            self.send_header("ETag", etag)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self._finish_with_fault(fault, 200, data, {"ETag": etag, "Cache-Control": "no-cache"})


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    if header.strip() == "*":
        return True
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return etag in tags


def _inflate(raw: bytes) -> bytes:
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(raw, MAX_INFLATED_BYTES)
    if d.unconsumed_tail:
        raise ValueError("inflated body too large")
    if not d.eof:
        raise EOFError("truncated gzip body")
    return out


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    central: CentralServer
    ssl_context: ssl.SSLContext | None = None

    def process_request(self, request: Any, client_address: Any) -> None:
        if self.central.faults.is_down():
            self.central.faults.count_down()
            self.central.metrics.request("connect", "unknown", 0, "down")
            _reset(request)
            return
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        central = self.central
        central._track(request, True)
        try:
            if self.ssl_context is not None:
                request.settimeout(10)
                try:
                    tls = self.ssl_context.wrap_socket(request, server_side=True)
                except (ssl.SSLError, OSError):
                    central.metrics.count("tls_handshake_failed")
                    return
                central._track(tls, True)
                try:
                    _Handler(tls, client_address, self)
                finally:
                    central._track(tls, False)
                    tls.close()
            else:
                _Handler(request, client_address, self)
        except (ConnectionError, OSError):
            pass
        finally:
            central._track(request, False)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("central: error handling a request from %s", client_address, exc_info=True)


class CentralServer:
    """The stand-in central engine. Thread-based; ``start`` returns once it listens."""

    def __init__(
        self,
        db_path: Path | str,
        host: str = "127.0.0.1",
        port: int = 0,
        tls_cert: Path | str | None = None,
        tls_key: Path | str | None = None,
        trust_list_path: Path | str | None = None,
        *,
        tokens: Mapping[str, str] | None = None,
        pacing: CentralPacing | None = None,
        ca: CentralCA | None = None,
        trust_root_path: Path | str | None = None,
        cert_lifetime_s: float | None = None,
        require_identity: bool = True,
        record_wire: bool = False,
    ) -> None:
        self.wire: list[dict[str, Any]] | None = [] if record_wire else None
        # With a CA the centre enrols terminals and wants their client certificates
        # (mutual TLS; enrol_api.py); its server certificate is the CA's.
        self.ca = ca
        if ca is not None and tls_cert is None:
            tls_cert, tls_key = ca.server_cert, ca.server_key
        self.trust_root_path = Path(trust_root_path) if trust_root_path else None
        self.cert_lifetime_s = cert_lifetime_s
        self.require_identity = require_identity
        self.provisioning: Provisioning | None = None
        self.db_path = Path(db_path)
        self.host = host
        self.port = port
        self.tls_cert = Path(tls_cert) if tls_cert else None
        self.tls_key = Path(tls_key) if tls_key else None
        if (self.tls_cert is None) != (self.tls_key is None):
            raise SimError("CentralServer: give both tls_cert and tls_key, or neither")
        self.trust_list_path = Path(trust_list_path) if trust_list_path else None
        self._trust_override: bytes | None = None
        self.tokens = dict(tokens) if tokens else {}
        self.pacing = pacing or CentralPacing()
        self.faults = Faults()
        self.metrics = Metrics()
        self.store: CentralStore
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._conns: set[Any] = set()
        self._conns_lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> CentralServer:
        if self._httpd is not None:
            raise SimError("CentralServer already started")
        self.store = CentralStore(self.db_path)
        try:
            httpd = _HTTPServer((self.host, self.port), _Handler)
        except OSError as exc:
            self.store.close()
            raise SimError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        httpd.central = self
        if self.tls_cert is not None:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            try:
                if self.ca is not None:
                    ctx = self.ca.server_context()
                ctx.load_cert_chain(str(self.tls_cert), str(self.tls_key))
            except (OSError, ssl.SSLError) as exc:
                httpd.server_close()
                self.store.close()
                raise SimError(f"cannot load central TLS cert/key: {exc}") from exc
            httpd.ssl_context = ctx
        if self.ca is not None:
            self.provisioning = Provisioning(self.db_path, self.ca)
            if self.cert_lifetime_s:
                self.provisioning.cert_lifetime_s = self.cert_lifetime_s
        self.port = httpd.server_address[1]  # keep the port: a restart reuses it
        self._stopping.clear()
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
            name="central-stand-in", daemon=True,
        )
        self._thread.start()
        log.info("central stand-in listening on %s", self.url)
        return self

    def stop(self) -> None:
        """Stop listening (connections are then refused), close connections and the db."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with self._conns_lock:
                if not self._conns:
                    break
            time.sleep(0.01)
        if self._thread is not None:
            self._thread.join(timeout=5)
        self.store.close()
        if self.provisioning is not None:
            self.provisioning.close()
            self.provisioning = None

    def __enter__(self) -> CentralServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.host}:{self.port}"

    # -- behaviour -------------------------------------------------------------------------
    def set_trust_list(self, data: bytes | None) -> None:
        """Publish these signed bytes (overrides ``trust_list_path``); None: back to the file."""
        self._trust_override = data

    def trust_list(self) -> bytes | None:
        if self._trust_override is not None:
            return self._trust_override
        if self.trust_list_path is None:
            return None
        try:
            return self.trust_list_path.read_bytes()
        except OSError:
            return None

    def trust_root(self) -> bytes | None:
        """The trust-list root public key (PEM) handed out at enrolment."""
        if self.trust_root_path is None:
            return None
        try:
            return self.trust_root_path.read_bytes()
        except OSError:
            return None

    def authenticate(self, header: str | None) -> str | bool:
        """True: open server; terminal id: known token; False: refused."""
        if not self.tokens:
            return True
        if not header or not header.startswith("Bearer "):
            return False
        return self.tokens.get(header[7:].strip(), False)

    def sleep(self, seconds: float) -> None:
        """A delay that ends early when the server stops."""
        self._stopping.wait(seconds)

    def _track(self, conn: Any, add: bool) -> None:
        with self._conns_lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)


def gzip_json(doc: Any) -> bytes:
    """Helper for tests that talk to the centre by hand."""
    return gzip.compress(json.dumps(doc).encode(), mtime=0)
