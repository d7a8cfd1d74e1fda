"""The stand-in central engine over a real socket and a real SQLite file: de-duplication,
idempotency (replay / 409 / 422), trust list ETag, heartbeat, auth, faults (the
provisioning endpoints: tests/sim/test_central_pki.py)."""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.central import CentralPacing, CentralServer
from sim.errors import ScenarioError


@pytest.fixture
def server(tmp_path: Path) -> Iterator[CentralServer]:
    (tmp_path / "tl.cose").write_bytes(b"signed-trust-list-v1")
    s = CentralServer(tmp_path / "central.db", trust_list_path=tmp_path / "tl.cose")
    s.start()
    yield s
    s.stop()


def body(ids: list[str], terminal: str = "t-1") -> bytes:
    doc = {"terminal_id": terminal, "batch_id": 1,
           "records": [{"record_id": i, "seq": n, "terminal_id": terminal}
                       for n, i in enumerate(ids, 1)]}
    return gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0)


def post(c: httpx.Client, ids: list[str], key: str, **headers: str) -> httpx.Response:
    return c.post("/v1/records", content=body(ids),
                  headers={"Content-Encoding": "gzip", "Idempotency-Key": key, **headers})


def test_dedupe_by_record_id_across_keys(server: CentralServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        r1 = post(c, ["a", "b", "c"], "k1")
        r2 = post(c, ["b", "c", "d"], "k2")
    assert r1.status_code == r2.status_code == 200
    assert r1.json() == {"accepted": 3, "stored": 3, "duplicates": 0}
    assert r2.json() == {"accepted": 3, "stored": 1, "duplicates": 2}
    assert sorted(server.store.record_ids()) == ["a", "b", "c", "d"]


def test_completed_key_replays_the_stored_response(server: CentralServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        first = post(c, ["a", "b"], "k1")
        again = post(c, ["a", "b"], "k1")
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert server.store.max_times_received() == 1  # the replay did not process anything
    assert server.metrics.snapshot()["counters"]["idempotency_replay"] == 1


def test_key_reused_with_another_body_is_422(server: CentralServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        assert post(c, ["a"], "k1").status_code == 200
        r = post(c, ["zzz"], "k1")
    assert r.status_code == 422
    assert "different body" in r.json()["error"]
    assert server.store.record_ids() == ["a"]


def test_key_in_flight_is_409(server: CentralServer) -> None:
    server.faults.set("slow", endpoint="upload", times=1, delay_s=1.0)
    results: dict[str, Any] = {}

    def first() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as c:
            results["first"] = post(c, ["a", "b"], "k1")

    t = threading.Thread(target=first)
    t.start()
    try:
        # Wait until the first request holds the key, then send the same key again.
        for _ in range(500):
            if server.store.key_state("t-1", "k1") == "in_flight":
                break
            threading.Event().wait(0.01)
        assert server.store.key_state("t-1", "k1") == "in_flight"
        with httpx.Client(base_url=server.url) as c:
            r = post(c, ["a", "b"], "k1")
            mismatch = post(c, ["other"], "k1")
    finally:
        t.join()
    assert r.status_code == 409
    assert r.headers["Retry-After"] == "1"
    assert mismatch.status_code == 422
    assert results["first"].status_code == 200
    with httpx.Client(base_url=server.url) as c:
        assert post(c, ["a", "b"], "k1").status_code == 200  # then a replay
    assert server.store.max_times_received() == 1


@pytest.mark.parametrize(
    ("content", "headers", "status"),
    [
        (b"not gzip", {"Content-Encoding": "gzip", "Idempotency-Key": "k"}, 400),
        (gzip.compress(b"[1,2]"), {"Content-Encoding": "gzip", "Idempotency-Key": "k"}, 400),
        (gzip.compress(b'{"records":[{"seq":1}]}'),
         {"Content-Encoding": "gzip", "Idempotency-Key": "k"}, 400),
        (gzip.compress(b'{"records":[]}'), {"Content-Encoding": "gzip"}, 400),
    ],
)
def test_bad_uploads_are_400(server: CentralServer, content: bytes,
                             headers: dict[str, str], status: int) -> None:
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/records", content=content, headers=headers)
    assert r.status_code == status
    assert r.json()["error"]


def test_pacing_fields_in_upload_answers(server: CentralServer) -> None:
    server.pacing = CentralPacing(max_batch=50, min_interval_s=2.5)
    with httpx.Client(base_url=server.url) as c:
        ok = post(c, ["a"], "k1")
        server.faults.set("503", times=1, retry_after=7)
        busy = post(c, ["b"], "k2")
    assert ok.json()["max_batch"] == 50 and ok.json()["min_interval_s"] == 2.5
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "7"
    assert busy.json()["max_batch"] == 50


def test_trust_list_etag_and_304(server: CentralServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.url) as c:
        r = c.get("/v1/trust-list")
        assert r.status_code == 200 and r.content == b"signed-trust-list-v1"
        etag = r.headers["ETag"]
        r304 = c.get("/v1/trust-list", headers={"If-None-Match": etag})
        assert r304.status_code == 304 and r304.content == b""
        (tmp_path / "tl.cose").write_bytes(b"signed-trust-list-v2")
        r2 = c.get("/v1/trust-list", headers={"If-None-Match": etag})
        assert r2.status_code == 200 and r2.content == b"signed-trust-list-v2"
        assert r2.headers["ETag"] != etag
    assert server.metrics.endpoint("trust-list") == {
        "requests": 3, "status_200": 2, "status_304": 1}


def test_heartbeat_stored_and_no_enrolment_without_a_ca(server: CentralServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        r = c.post("/v1/heartbeat", json={"terminal_id": "t-9", "backlog": {"pending": 3}},
                   headers={"X-Scangate-Terminal": "t-9"})
        assert r.status_code == 200 and r.json()["ok"] is True
        assert c.post("/v1/heartbeat", content=b"nope").status_code == 400
        assert c.post("/.well-known/est/simpleenroll", content=b"x").status_code == 501
        assert c.get("/.well-known/est/cacerts").status_code == 501
        assert c.get("/v1/nothing").status_code == 404
    beats = server.store.heartbeats("t-9")
    assert len(beats) == 1 and beats[0]["body"]["backlog"] == {"pending": 3}


def test_bearer_tokens_when_configured(tmp_path: Path) -> None:
    with CentralServer(tmp_path / "c.db", tokens={"secret-1": "t-1"}) as s, \
            httpx.Client(base_url=s.url) as c:
        assert post(c, ["a"], "k").status_code == 401
        assert post(c, ["a"], "k", Authorization="Bearer wrong").status_code == 401
        r = post(c, ["a"], "k", Authorization="Bearer secret-1")
        assert r.status_code == 200
        assert s.store.record_count("t-1") == 1


@pytest.mark.parametrize(
    ("kind", "exc"),
    [("down", httpx.TransportError), ("reset", httpx.TransportError),
     ("partition", httpx.TransportError), ("truncate", httpx.RemoteProtocolError)],
)
def test_connection_faults(server: CentralServer, kind: str, exc: type[Exception]) -> None:
    server.faults.set(kind, times=None if kind == "down" else 1)
    with httpx.Client(base_url=server.url) as c, pytest.raises(exc):
        post(c, ["a"], "k1")
    stored = server.store.record_ids()
    # partition and truncate store the batch before the answer is lost; down/reset do not.
    assert stored == (["a"] if kind in ("partition", "truncate") else [])
    assert server.faults.injected[kind] >= 1


@pytest.mark.parametrize(("kind", "status"), [("500", 500), ("503", 503), ("429", 429)])
def test_status_faults_process_nothing(server: CentralServer, kind: str, status: int) -> None:
    server.faults.set(kind, times=1)
    with httpx.Client(base_url=server.url) as c:
        r = post(c, ["a"], "k1")
        assert r.status_code == status and "Retry-After" not in r.headers
        assert server.store.record_ids() == []
        assert post(c, ["a"], "k1").status_code == 200  # the fault was used once


def test_slow_times_out_but_the_centre_finishes(server: CentralServer) -> None:
    server.faults.set("slow", times=1, delay_s=0.5)
    with httpx.Client(base_url=server.url, timeout=0.1) as c, pytest.raises(httpx.TimeoutException):
        post(c, ["a"], "k1")
    for _ in range(300):
        if server.store.record_ids():
            break
        threading.Event().wait(0.01)
    assert server.store.record_ids() == ["a"]


def test_stopped_centre_refuses_and_restarts_on_the_same_port(server: CentralServer) -> None:
    url = server.url
    server.stop()
    with httpx.Client(base_url=url) as c, pytest.raises(httpx.ConnectError):
        c.get("/v1/trust-list")
    server.start()
    assert server.url == url
    with httpx.Client(base_url=url) as c:
        assert c.get("/v1/trust-list").status_code == 200


def test_unknown_fault_is_a_scenario_error(server: CentralServer) -> None:
    with pytest.raises(ScenarioError):
        server.faults.set("meteor")
    with pytest.raises(ScenarioError):
        server.faults.set("500", endpoint="nowhere")


def test_metrics_count_requests_per_endpoint(server: CentralServer) -> None:
    with httpx.Client(base_url=server.url) as c:
        post(c, ["a"], "k1")
        post(c, ["a"], "k1")
        c.get("/v1/trust-list")
    snap = server.metrics.snapshot()
    assert snap["endpoints"]["upload"]["requests"] == 2
    assert snap["endpoints"]["upload"]["status_200"] == 2
    assert snap["endpoints"]["trust-list"]["requests"] == 1
    assert snap["counters"]["records_received"] == 1
    log = server.metrics.requests_log()
    assert [e["endpoint"] for e in log] == ["upload", "upload", "trust-list"]
