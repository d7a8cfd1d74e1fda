"""The stand-in centre driven from outside: fault specs, the admin API on its own port,
the read API of stored records, and ``scangate sim central --fault ... / export``."""

from __future__ import annotations

import gzip
import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from sim.central import CentralServer
from sim.central.admin import AdminServer
from sim.central.faults import Faults, options_from_json, parse_spec
from sim.errors import ScenarioError

SCANGATE = Path(sys.executable).with_name("scangate")


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[CentralServer, str]]:
    s = CentralServer(tmp_path / "central.db").start()
    admin = AdminServer(s).start()
    try:
        yield s, admin.url
    finally:
        admin.stop()
        s.stop()


def upload(url: str, ids: list[str], key: str, terminal: str = "t-1") -> httpx.Response:
    doc = {"terminal_id": terminal, "records": [
        {"record_id": i, "terminal_id": terminal, "seq": n, "decision": "accept",
         "reason": "ok", "t_wall": 1.8e9 + n} for n, i in enumerate(ids, 1)]}
    with httpx.Client(base_url=url) as c:
        return c.post("/v1/records", content=gzip.compress(json.dumps(doc).encode()),
                      headers={"Content-Encoding": "gzip", "Idempotency-Key": key})


def test_spec_form() -> None:
    assert parse_spec("partition:0.2") == ("partition", {"rate": 0.2})
    assert parse_spec("503:0.5, retry_after=2 ,endpoint=upload") == (
        "503", {"rate": 0.5, "retry_after": "2", "endpoint": "upload"})
    assert parse_spec("status,code=413,times=2") == ("status", {"code": 413, "times": 2})
    assert options_from_json({"kind": "slow", "delay_s": 3, "rate": 1}) == (
        "slow", {"delay_s": 3.0, "rate": 1.0})
    for bad in ("partition:lots", "slow,delay=3", "500,times"):
        with pytest.raises(ScenarioError):
            parse_spec(bad)
    for bad_doc in (42, {"kind": "500", "times": "2"}, {"kind": "500", "colour": 1}):
        with pytest.raises(ScenarioError):
            options_from_json(bad_doc)
    f = Faults()
    for bad in ("partition:1.5", "partition:0", "meteor", "slow,delay_s=-1"):
        with pytest.raises(ScenarioError):
            f.add_spec(bad)
    assert f.active() == []


def test_a_rate_injects_that_share_reproducibly() -> None:
    def draws(seed: int) -> list[bool]:
        f = Faults(seed=seed)
        f.add_spec("partition:0.2,endpoint=upload")
        return [f.take("upload") is not None for _ in range(2000)]

    got = draws(7)
    assert 300 < sum(got) < 500  # 2000 x 0.2 = 400; sd 18
    assert draws(7) == got and draws(8) != got
    f = Faults(seed=1)
    f.add_spec("500:0.5,times=3")
    f.add_spec("503")  # what a miss of the first falls through to
    kinds = [getattr(f.take("upload"), "kind", None) for _ in range(20)]
    assert kinds.count("500") == 3 and kinds.count("503") == 17  # times counts injections


def test_admin_faults_act_on_the_centre_and_down_does_not_lock_the_admin_out(
        central: tuple[CentralServer, str]) -> None:
    server, admin = central
    with httpx.Client(base_url=admin) as a:
        r = a.post("/faults", json={"faults": ["partition,endpoint=upload,times=1",
                                               {"kind": "503", "retry_after": 7}]})
        assert r.status_code == 200
        assert [f["kind"] for f in r.json()["faults"]] == ["partition", "503"]
        with pytest.raises(httpx.TransportError):  # stored, then the connection reset
            upload(server.url, ["a", "b"], "k1")
        r = upload(server.url, ["c"], "k2")
        assert r.status_code == 503 and r.headers["Retry-After"] == "7"
        assert a.get("/faults").json()["injected"] == {"partition": 1, "503": 1}
        assert a.post("/faults", json={"faults": ["down"], "mode": "append"}).status_code == 200
        with pytest.raises(httpx.TransportError):
            upload(server.url, ["c"], "k3")
        assert a.delete("/faults").json()["faults"] == []  # the admin still answers
        assert upload(server.url, ["c"], "k4").status_code == 200
        # an invalid list changes nothing
        a.post("/faults", json={"faults": ["500"]})
        bad = a.post("/faults", json={"faults": ["reset", "meteor"]})
        assert bad.status_code == 400 and "meteor" in bad.json()["error"]
        assert [f["kind"] for f in a.get("/faults").json()["faults"]] == ["500"]
        assert a.post("/faults", json={"mode": "sideways", "faults": []}).status_code == 400
        assert a.get("/nope").status_code == 404


def test_records_and_heartbeats_are_read_in_pages(central: tuple[CentralServer, str]) -> None:
    server, admin = central
    assert upload(server.url, [f"r{i:02d}" for i in range(15)], "k1").status_code == 200
    assert upload(server.url, ["x1", "x2"], "k2", terminal="t-2").status_code == 200
    assert upload(server.url, ["r00", "x3"], "k3", terminal="t-2").status_code == 200  # r00 again
    with httpx.Client(base_url=server.url) as c:
        c.post("/v1/heartbeat", json={"terminal_id": "t-1", "backlog": {"pending": 3}})
    with httpx.Client(base_url=admin) as a:
        got: list[dict[str, Any]] = []
        cursor = 0
        while True:
            page = a.get("/records", params={"after": cursor, "limit": 7}).json()
            got += page["records"]
            cursor = page["next"]
            if not page["more"]:
                break
        assert [r["record_id"] for r in got] == [f"r{i:02d}" for i in range(15)] + [
            "x1", "x2", "x3"]
        assert next(r for r in got if r["record_id"] == "r00")["times_received"] == 2
        assert got[0]["decision"] == "accept" and got[0]["received_at"] > 0
        assert a.get("/records", params={"after": cursor}).json() == {
            "records": [], "next": cursor, "more": False}
        t2 = a.get("/records", params={"terminal": "t-2"}).json()["records"]
        assert [r["record_id"] for r in t2] == ["x1", "x2", "x3"]
        beats = a.get("/heartbeats").json()["heartbeats"]
        assert beats[0]["body"]["backlog"] == {"pending": 3}
        stats = a.get("/stats").json()
        assert stats["records"] == 18 and stats["max_times_received"] == 2
        assert a.get("/records", params={"limit": 0}).status_code == 400


def _start(args: list[str]) -> tuple[subprocess.Popen[str], dict[str, str]]:
    proc = subprocess.Popen([str(SCANGATE), "sim", "central", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    urls: dict[str, str] = {}
    for _ in range(5):
        line = proc.stdout.readline()
        if line.startswith("central stand-in: "):
            urls["central"] = line.split()[2]
        elif line.startswith("admin API: "):
            urls["admin"] = line.split()[2]
        if len(urls) == 2:
            return proc, urls
    proc.kill()
    raise AssertionError(f"no URLs printed: {urls}")


def test_cli_faults_admin_and_export_black_box(tmp_path: Path) -> None:
    db = tmp_path / "c.db"
    proc, urls = _start(["--db", str(db), "--port", "0", "--fault",
                         "partition:1,endpoint=upload,times=1", "--fault-seed", "3"])
    try:
        with pytest.raises(httpx.TransportError):
            upload(urls["central"], ["a", "b"], "k1")  # stored, answer lost
        assert upload(urls["central"], ["a", "b"], "k1").status_code == 200  # the retry
        with httpx.Client(base_url=urls["admin"]) as a:
            page = a.get("/records").json()
            assert [r["record_id"] for r in page["records"]] == ["a", "b"]
            assert a.get("/faults").json()["injected"] == {"partition": 1}
        out = subprocess.run([str(SCANGATE), "sim", "central", "export", "--db", str(db)],
                             capture_output=True, text=True, timeout=30)
        assert out.returncode == 0, out.stderr
        lines = [json.loads(x) for x in out.stdout.splitlines()]
        assert [r["record_id"] for r in lines] == ["a", "b"]
        assert "--after 2" in out.stderr
        again = subprocess.run([str(SCANGATE), "sim", "central", "export", "--db", str(db),
                                "--after", "2"], capture_output=True, text=True, timeout=30)
        assert again.stdout == ""
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert proc.returncode == 0


def test_cli_bad_fault_spec_is_one_clear_line(tmp_path: Path) -> None:
    r = subprocess.run([str(SCANGATE), "sim", "central", "--db", str(tmp_path / "c.db"),
                        "--port", "0", "--fault", "partition:2"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "rate 2.0" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "c.db").exists()  # nothing started
