"""Every file in configs/ works: it loads, and on simulated hardware the real daemon
decides codes with it and uploads the records to the stand-in centre.

``configs/sim.toml``'s recipe (the commented commands at its top) is also run as written,
in a copy of the layout it expects (ports aside: the stand-in's and the screen's).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from device.config import load_config
from sim.central import CentralServer
from sim.keys import make_demo_keys
from sim.serial_pty import SimSerialReader
from sim.tlscerts import make_test_pki
from tests.device.daemon_proc import DaemonProcess, wait_connected

REPO = Path(__file__).resolve().parent.parent
CONFIGS = sorted((REPO / "configs").glob("*.toml"))
BIN = Path(sys.executable).parent


def test_there_are_configs_to_test() -> None:
    assert {p.name for p in CONFIGS} >= {"sim.toml", "terminal.example.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_loads(path: Path) -> None:
    cfg = load_config(path)
    assert cfg.sources and cfg.terminal_id
    if cfg.uplink is not None:  # base_url is the centre's root (docs/central-api.md)
        assert not cfg.uplink.base_url.rstrip("/").endswith("/v1")


# --------------------------------------------------------------------------- TOML out


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    raise TypeError(v)


def dump_toml(doc: dict[str, Any]) -> str:
    """The subset of TOML the configs use: scalars, arrays, tables, arrays of tables."""
    out = [f"{k} = {_toml_value(v)}" for k, v in doc.items() if not isinstance(v, dict | list)
           or (isinstance(v, list) and not any(isinstance(x, dict) for x in v))]
    for k, v in doc.items():
        if isinstance(v, dict):
            out.append(f"\n[{k}]")
            out += [f"{kk} = {_toml_value(vv)}" for kk, vv in v.items()]
        elif isinstance(v, list) and any(isinstance(x, dict) for x in v):
            for item in v:
                out.append(f"\n[[{k}]]")
                out += [f"{kk} = {_toml_value(vv)}" for kk, vv in item.items()]
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- sim hardware


def on_sim_hardware(doc: dict[str, Any], tmp: Path, *, keys_dir: Path, reader_path: str,
                    central: CentralServer, ca: Path | None) -> dict[str, Any]:
    """The same configuration with simulated hardware and local state: every serial or
    keyboard reader becomes a simulated reader on a pty, every camera the simulated
    camera showing codes minted with the demo keys, the gate gpiozero's MockFactory, the
    state files under ``tmp``, the centre the stand-in (over TLS with its CA pinned when
    the file uses https). Everything else (policy, gate pins and mode, journal sizes,
    uplink intervals, ...) is kept as shipped."""
    doc = json.loads(json.dumps(doc))
    state = tmp / "state"
    doc["state_dir"] = str(state)
    sources = []
    for src in doc["sources"]:
        if src["type"] == "camera":
            sources.append({**src, "backend": "sim", "device": f"scenes:keys={keys_dir}"})
        else:
            keep = {k: v for k, v in src.items() if k in ("suffix", "baud", "parity", "name")}
            sources.append({**keep, "type": "serial", "port": reader_path})
    doc["sources"] = sources
    doc.setdefault("gate", {})["pin_factory"] = "mock"
    doc["trust"] = {"root_key": str(keys_dir / "root.pub.pem"),
                    "trust_list": str(state / "trust-list.cose")}
    doc.setdefault("journal", {})["path"] = str(state / "journal.db")
    doc["timefloor"] = {"path": str(state / "timefloor.json")}
    doc.setdefault("screen", {}).update(port=0, host="127.0.0.1")
    if "uplink" in doc:
        doc["uplink"]["base_url"] = central.url
        if ca is not None:
            doc["uplink"]["ca_file"] = str(ca)
        else:
            doc["uplink"].pop("ca_file", None)
        doc["uplink"]["token"] = "sim-token"
    return doc


@pytest.fixture
def reader(tmp_path: Path) -> Iterator[SimSerialReader]:
    with SimSerialReader(link_path=tmp_path / "ttyACM-sim") as r:
        yield r


@pytest.mark.slow
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_config_decides_and_uploads_on_sim_hardware(path: Path, tmp_path: Path,
                                                   reader: SimSerialReader) -> None:
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    keys = make_demo_keys(tmp_path / "keys")
    https = str(doc.get("uplink", {}).get("base_url", "")).startswith("https://")
    tls = make_test_pki(tmp_path / "tls") if https else None
    central = CentralServer(tmp_path / "central.db", port=0, trust_list_path=keys.trust_list,
                            tls_cert=tls.server_cert if tls else None,
                            tls_key=tls.server_key if tls else None)
    central.start()
    daemon = None
    try:
        sim_doc = on_sim_hardware(doc, tmp_path, keys_dir=keys.dir, reader_path=str(reader.path),
                                  central=central, ca=tls.ca_cert if tls else None)
        cfg = tmp_path / "terminal.toml"
        cfg.write_text(dump_toml(sim_doc))
        cfg.chmod(0o600)
        load_config(cfg)
        check = subprocess.run([str(BIN / "scangate"), "config", "check", str(cfg)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr
        assert "no trust list installed" in check.stdout  # the uplink will fetch it
        daemon = DaemonProcess(cfg)
        ready = daemon.next_event("ready", timeout=30)
        # No trust list was installed: the daemon gets it from the centre, as in the field.
        deadline = time.monotonic() + 30
        while httpx.get(ready["screen"] + "api/status", timeout=5).json()["trust"][
                "version"] is None:
            assert time.monotonic() < deadline, f"no trust list came: {daemon.stderr[-5:]}"
            time.sleep(0.1)
        issuer = keys.issuer()
        accepted = 0
        if any(s["type"] == "serial" for s in sim_doc["sources"]):
            wait_connected(ready["screen"], timeout=15)
            for _ in range(3):
                reader.send(issuer.mint("green"), suffix=_suffix(sim_doc))
                ev = daemon.next_event("decision", timeout=15)
                while not ev["source"].startswith("serial:"):  # the camera's people too
                    ev = daemon.next_event("decision", timeout=15)
                assert ev["decision"] == "accept" and ev["reason"] == "ok", ev
                accepted += 1
        else:  # camera only: the simulated people at the camera; some are green
            end = time.monotonic() + 60
            while accepted < 2 and time.monotonic() < end:
                ev = daemon.next_event("decision", timeout=60)
                accepted += ev["decision"] == "accept"
            assert accepted >= 2
        if "uplink" in sim_doc:
            end = time.monotonic() + 45
            while central.store.record_count(sim_doc["terminal_id"]) < accepted:
                assert time.monotonic() < end, f"no upload: {daemon.stderr[-5:]}"
                time.sleep(0.2)
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.kill()
        central.stop()


def _suffix(doc: dict[str, Any]) -> str:
    for s in doc["sources"]:
        if s["type"] == "serial":
            return str(s.get("suffix", "crlf"))
    return "crlf"


# --------------------------------------------------------------------------- the recipe


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def recipe(path: Path) -> list[str]:
    """The commands of the recipe at the top of ``path`` (``#   command  # comment``)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        m = re.match(r"#   (\S.*)$", line)
        if m:
            lines.append(re.sub(r"\s+# .*$", "", m.group(1)).strip())
    return lines


@pytest.mark.slow
def test_sim_toml_recipe_works_as_written(tmp_path: Path) -> None:
    src = REPO / "configs" / "sim.toml"
    steps = recipe(src)
    assert [s.split()[:2] for s in steps] == [
        ["scangate", "sim"], ["mkdir", "-p"], ["scangate", "sim"], ["scangate", "config"],
        ["scangate", "run"]]
    port = free_port()
    (tmp_path / "configs").mkdir()
    text = src.read_text(encoding="utf-8").replace("8300", str(port))
    text = re.sub(r"(?m)^port = 8080", "port = 0", text)  # the staff screen's
    (tmp_path / "configs" / "sim.toml").write_text(text)
    (tmp_path / "configs" / "sim.toml").chmod(0o600)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    background: list[subprocess.Popen[str]] = []
    daemon: DaemonProcess | None = None
    try:
        for step in recipe(tmp_path / "configs" / "sim.toml"):
            if step.endswith("&"):
                background.append(subprocess.Popen(
                    shlex.split(step[:-1]), cwd=tmp_path, env=env, text=True,
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE))
                _wait_listening(port)
            elif step.startswith("scangate run"):
                args = shlex.split(step)
                assert args[:3] == ["scangate", "run", "--config"]
                daemon = DaemonProcess(tmp_path / args[3], cwd=tmp_path)
            else:
                out = subprocess.run(["bash", "-c", step], cwd=tmp_path, env=env,
                                     capture_output=True, text=True, timeout=60)
                assert out.returncode == 0, (step, out.stderr)
                assert "warning: no trust list" not in out.stdout, step
        assert daemon is not None
        daemon.next_event("ready", timeout=30)
        reasons: list[str] = []
        end = time.monotonic() + 60
        while "ok" not in reasons and time.monotonic() < end:
            reasons.append(daemon.next_event("decision", timeout=60)["reason"])
        assert "ok" in reasons, reasons  # real codes, verified against the installed list
        db = tmp_path / "run" / "cam" / "central.db"
        end = time.monotonic() + 30
        while _records(db) < 1:
            assert time.monotonic() < end, f"nothing uploaded: {daemon.stderr[-5:]}"
            time.sleep(0.3)
    finally:
        if daemon is not None:
            daemon.terminate()
            daemon.kill()
        for proc in background:
            proc.terminate()
            proc.communicate(timeout=20)


def _wait_listening(port: int) -> None:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


def _records(db: Path) -> int:
    import sqlite3

    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT count(*) FROM records").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
