"""A central engine that can collapse: finite capacity, a queue, outages, in virtual time.

Capacity is a token bucket of ``capacity_rps`` request-units per second with a burst of
``burst_s`` seconds: a request costs 1 unit (an upload 1 + ``record_cost`` per record).
Requests beyond the bucket wait in a FIFO queue, so the answer's latency is the queue
ahead of it (in seconds of work) plus ``latency_ms`` of round trip: latency grows with
the queue. When the queue holds more than ``queue_limit_s`` seconds of work the centre
sheds the request at once: HTTP 503 with ``Retry-After``. A client that stops waiting
(its timeout) does not take its request out of the queue: the centre still does the
work later, for nobody. That is the collapse: past the timeout, every unit of capacity
is spent on answers no one reads, the clients retry, and the queue never drains.

Outage windows (virtual time):

- ``down``: connections are refused at once (nothing is processed; requests in the
  queue when it starts are lost with the crash: their clients see a reset);
- ``blackhole``: connections hang until the client's connect timeout;
- ``partition``: requests are processed and stored, the answers never arrive (the
  client times out; only an idempotency key tells it later what happened).

The model serves two kinds of client: the real ``device.uplink`` client through
``CentreTransport`` (an ``httpx.AsyncBaseTransport``: no sockets, same requests and
answers as docs/central-api.md), and the naive baselines, which call ``exchange``
directly with a ``Request`` whose ``process`` runs when the centre gets to it.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from sim.fleet.metrics import FleetRecorder
from sim.fleet.scenario import Centre, Day

UPLOAD_PATH = "/v1/records"
HEARTBEAT_PATH = "/v1/heartbeat"
TRUST_LIST_PATH = "/v1/trust-list"


class CentreFailure(Exception):
    """The exchange failed before an answer: ``kind`` is refused, connect_timeout,
    read_timeout or reset."""

    def __init__(self, kind: str) -> None:
        super().__init__(kind)
        self.kind = kind


@dataclass
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    value: Any = None  # for in-process callers (the naive_online verdict)


_DROPPED = Answer(0)  # processed during a partition: the answer is lost


@dataclass
class Request:
    """One request to the centre. ``process(now)`` does the work when its turn comes;
    ``precheck(now)`` may answer at once without taking a place in the queue (409)."""

    endpoint: str
    process: Callable[[float], Answer]
    cost: float = 1.0
    precheck: Callable[[float], Answer | None] | None = None
    abandon: Callable[[], None] | None = None  # the work was lost (crash): undo claims
    admitted: Callable[[float], None] | None = None  # queued; done at the given time


class CentreModel:
    def __init__(self, loop: asyncio.AbstractEventLoop, *, spec: Centre, day: Day,
                 capacity_rps: float, recorder: FleetRecorder) -> None:
        self.loop = loop
        self.spec = spec
        self.capacity = capacity_rps
        self.recorder = recorder
        self.rtt = spec.latency_ms / 1000.0
        self.outages = [(day.at(o.from_h), day.at(o.to_h), o.kind) for o in spec.outages]
        self._free_at = -math.inf  # when the work already accepted will be done

    def outage(self, t: float) -> str | None:
        for lo, hi, kind in self.outages:
            if lo <= t < hi:
                return kind
        return None

    def queue_s(self, now: float) -> float:
        """Seconds of work queued ahead of a request arriving now."""
        return max(0.0, self._free_at - now)

    async def exchange(self, req: Request, *, connect_timeout: float,
                       read_timeout: float) -> Answer:
        """Send ``req``; the answer, or ``CentreFailure`` at the moment the client sees it."""
        loop = self.loop
        now = loop.time()
        rec = self.recorder
        kind = self.outage(now)
        if kind == "down":
            rec.refused[rec.bin(now)] += 1
            await asyncio.sleep(self.rtt)
            raise CentreFailure("refused")
        if kind == "blackhole":
            rec.refused[rec.bin(now)] += 1
            await asyncio.sleep(connect_timeout)
            rec.timeouts[rec.bin(loop.time())] += 1
            raise CentreFailure("connect_timeout")
        rec.request(req.endpoint, now)
        if self.queue_s(now) > self.spec.queue_limit_s:
            rec.shed[rec.bin(now)] += 1
            await asyncio.sleep(self.rtt)
            return self.busy()
        if req.precheck is not None:
            early = req.precheck(now)
            if early is not None:
                await asyncio.sleep(self.rtt)
                return early
        start = max(self._free_at, now - self.spec.burst_s)
        self._free_at = start + req.cost / self.capacity
        t_done = max(now, self._free_at)
        rec.queue_depth(now, (t_done - now) * self.capacity)
        if req.admitted is not None:
            req.admitted(t_done)
        # The answer leaves when the work is done and arrives one round trip later; the
        # work is booked at the arrival moment (one timer per request).
        t_answer = t_done + self.rtt
        deadline = now + read_timeout
        if t_answer > deadline:  # the client gives up first; the work still happens
            loop.call_at(t_answer, self._complete, req, None)
            await asyncio.sleep(read_timeout)
            rec.timeouts[rec.bin(loop.time())] += 1
            raise CentreFailure("read_timeout")
        future: asyncio.Future[Answer] = loop.create_future()
        loop.call_at(t_answer, self._complete, req, future)
        answer = await future
        if answer is _DROPPED:
            await asyncio.sleep(max(0.0, deadline - loop.time()))
            rec.timeouts[rec.bin(loop.time())] += 1
            raise CentreFailure("read_timeout")
        return answer

    def busy(self) -> Answer:
        ra = self.spec.retry_after_s
        return Answer(503, b'{"error":"overloaded"}',
                      {"Retry-After": str(math.ceil(ra))} if ra > 0 else {})

    def _complete(self, req: Request, future: asyncio.Future[Answer] | None) -> None:
        now = self.loop.time()
        kind = self.outage(now)
        if kind in ("down", "blackhole"):  # the crash took the queued work with it
            self.recorder.count("lost_in_crash")
            if req.abandon is not None:
                req.abandon()
            if future is not None and not future.done():
                future.set_exception(CentreFailure("reset"))
            return
        self.recorder.count("processed")
        answer = req.process(now)
        if future is not None and not future.done():
            future.set_result(_DROPPED if kind == "partition" else answer)


class ScangateCentre:
    """The scangate protocol (docs/central-api.md) on a ``CentreModel``: idempotency
    keys per terminal, de-duplication by record id, conditional trust-list GETs."""

    def __init__(self, model: CentreModel, *, trust_version: Callable[[float], int],
                 trust_bytes: Callable[[int], bytes], decided_at: Callable[[float], float]
                 ) -> None:
        self.model = model
        self.rec = model.recorder
        self.trust_version = trust_version
        self.trust_bytes = trust_bytes
        self.decided_at = decided_at  # record t_wall -> virtual time of the decision
        # (terminal, key) -> [state, body digest, stored answer, when the work is done]
        self.keys: dict[tuple[str, str], list[Any]] = {}
        self.stored: set[str] = set()

    def upload(self, terminal: str, key: str, body: bytes, n_records: int) -> Request:
        digest = hashlib.sha256(body).hexdigest()
        slot = (terminal, key)

        def precheck(now: float) -> Answer | None:
            entry = self.keys.get(slot)
            if entry is None:
                self.keys[slot] = ["in_flight", digest, None, now]
                return None
            state, known, _answer, t_done = entry
            if known != digest:
                return Answer(422, b'{"error":"idempotency key reused with another body"}')
            if state == "in_flight":
                # Still queued: come back when it will be done (this centre knows when).
                self.rec.count("in_flight_409")
                wait = max(1, math.ceil(t_done - now))
                return Answer(409, b'{"error":"in flight"}', {"Retry-After": str(wait)})
            return None  # done: replayed when its turn comes (a lookup still costs a slot)

        def admitted(t_done: float) -> None:
            entry = self.keys[slot]
            if entry[0] == "in_flight":
                entry[3] = t_done

        def process(now: float) -> Answer:
            state, _known, answer, _t = self.keys[slot]
            if state == "done" and answer is not None:
                self.rec.count("replayed")
                return answer
            self.rec.count("unique_batches")
            doc = json.loads(gzip.decompress(body))
            new = dup = 0
            for r in doc["records"]:
                rid = r["record_id"]
                if rid in self.stored:
                    dup += 1
                    continue
                self.stored.add(rid)
                new += 1
                self.rec.stored_record(now, self.decided_at(float(r["t_wall"])))
            if dup:
                self.rec.count("duplicates", dup)
            answer = Answer(200, json.dumps({"accepted": len(doc["records"]), "stored": new,
                                             "duplicates": dup}).encode())
            self.keys[slot] = ["done", digest, answer, now]
            return answer

        def abandon() -> None:
            if self.keys.get(slot, ("",))[0] == "in_flight":
                del self.keys[slot]

        return Request("upload", process,
                       cost=1.0 + self.model.spec.record_cost * n_records,
                       precheck=precheck, abandon=abandon, admitted=admitted)

    def heartbeat(self) -> Request:
        def process(now: float) -> Answer:
            self.rec.count("heartbeats")
            return Answer(200, b"{}")
        return Request("heartbeat", process)

    def trust_list(self, etag: str | None) -> Request:
        def process(now: float) -> Answer:
            version = self.trust_version(now)
            tag = f'"v{version}"'
            if etag == tag:
                return Answer(304, b"", {"ETag": tag})
            self.rec.count("trust_lists_sent")
            return Answer(200, self.trust_bytes(version),
                          {"ETag": tag, "Content-Type": "application/cose"})
        return Request("trust-list", process)


_ROUTES = {("POST", UPLOAD_PATH): "upload", ("POST", HEARTBEAT_PATH): "heartbeat",
           ("GET", TRUST_LIST_PATH): "trust-list"}
_FAILURES: dict[str, type[httpx.TransportError]] = {
    "refused": httpx.ConnectError,
    "connect_timeout": httpx.ConnectTimeout,
    "read_timeout": httpx.ReadTimeout,
    "reset": httpx.ReadError,
}


class CentreTransport(httpx.AsyncBaseTransport):
    """The in-process wire between one terminal's ``httpx.AsyncClient`` and the centre."""

    def __init__(self, centre: ScangateCentre) -> None:
        self.centre = centre

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        route = _ROUTES.get((request.method, request.url.path))
        if route is None:
            return httpx.Response(404, content=b'{"error":"no such endpoint"}',
                                  request=request)
        try:
            body = request.content  # the client sends bytes: read when the request was built
        except httpx.RequestNotRead:
            body = await request.aread()
        headers = {k.lower(): v for k, v in request.headers.raw}  # bytes, one pass
        if route == "upload":
            req = self.centre.upload(headers.get(b"x-scangate-terminal", b"").decode(),
                                     headers.get(b"idempotency-key", b"").decode(), body,
                                     int(headers.get(b"x-scangate-record-count", b"0")))
        elif route == "heartbeat":
            req = self.centre.heartbeat()
        else:
            etag = headers.get(b"if-none-match")
            req = self.centre.trust_list(etag.decode() if etag is not None else None)
        timeout = request.extensions.get("timeout", {})
        try:
            answer = await self.centre.model.exchange(
                req, connect_timeout=float(timeout.get("connect") or 10.0),
                read_timeout=float(timeout.get("read") or 10.0))
        except CentreFailure as exc:
            raise _FAILURES[exc.kind](f"simulated centre: {exc.kind}", request=request) from None
        # As a network transport answers: the headers as they came off the wire
        # (Content-Length included) and the body as a stream the client reads.
        wire = [(k.encode(), v.encode()) for k, v in answer.headers.items()]
        wire.append((b"Content-Length", str(len(answer.body)).encode()))
        return httpx.Response(answer.status, headers=wire, stream=httpx.ByteStream(answer.body),
                              request=request)
