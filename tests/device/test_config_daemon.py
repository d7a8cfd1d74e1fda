"""The terminal configuration: both examples load; bad values name key, value, allowed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from device.cli.main import main as cli_main
from device.config import load_config, parse_config
from device.errors import ConfigError
from device.sources.config import CameraSourceConfig, SerialSourceConfig

REPO = Path(__file__).resolve().parents[2]
REAL = REPO / "configs" / "terminal.example.toml"
SIM = REPO / "configs" / "sim.toml"


def minimal(**over: object) -> dict:
    doc: dict = {
        "terminal_id": "t-1",
        "state_dir": "state",
        "sources": [{"type": "serial", "port": "/dev/ttyACM0"}],
        "trust": {"root_key": "keys/root.pub.pem"},
    }
    doc.update(over)
    return doc


def parse(doc: dict, tmp_path: Path):
    return parse_config(doc, base_dir=tmp_path)


def test_real_example_validates() -> None:
    cfg = load_config(REAL)
    assert cfg.gate.pin_factory == "lgpio"
    assert cfg.gate.relay_mode == "hold" and cfg.gate.passage_pin == 24
    assert not cfg.gate.relay_active_high
    kinds = [s.kind for s in cfg.sources]
    assert kinds == ["serial", "camera"]
    serial = cfg.sources[0].config
    assert isinstance(serial, SerialSourceConfig) and serial.port == "/dev/ttyACM0"
    cam = cfg.sources[1].config
    assert isinstance(cam, CameraSourceConfig)
    assert (cam.device, cam.width, cam.height, cam.fps) == ("0", 1280, 720, 30)
    assert cam.decoder == "zxing"
    assert cfg.uplink is not None and cfg.uplink.base_url.startswith("https://")
    assert cfg.uplink.ca_file == Path("/etc/scangate/central-ca.pem")
    assert cfg.uplink.terminal_id == cfg.terminal_id
    assert cfg.screen.host == "127.0.0.1"
    assert cfg.policy.anti_passback_s == 300
    assert cfg.journal.quota_bytes == 512 * 2**20


def test_sim_example_loads_with_paths_relative_to_the_file() -> None:
    cfg = load_config(SIM)
    assert cfg.gate.pin_factory == "mock"
    assert cfg.sources[0].config.backend == "sim"
    assert cfg.trust.root_key == REPO / "run" / "cam" / "keys" / "root.pub.pem"
    assert cfg.journal.path == REPO / "run" / "cam" / "state" / "journal.db"
    assert cfg.uplink is not None and cfg.uplink.base_url.startswith("http://127.0.0.1")


def test_defaults(tmp_path: Path) -> None:
    cfg = parse(minimal(), tmp_path)
    assert cfg.uplink is None
    assert cfg.screen.host == "127.0.0.1"
    assert cfg.gate.pin_factory == "mock" and cfg.gate.relay_mode == "pulse"
    assert cfg.policy.accepted_profiles == {"scangate", "eu-dcc"}
    assert not cfg.policy.accept_yellow
    assert cfg.journal.path == tmp_path / "state" / "journal.db"
    assert cfg.trust.root_key == tmp_path / "keys" / "root.pub.pem"


@pytest.mark.parametrize(
    ("doc", "fragments"),
    [
        (minimal(gate={"pin_factory": "pigpio"}),
         ["gate.pin_factory", "'pigpio'", "lgpio", "mock"]),
        (minimal(gate={"pulse_ms": 5}), ["gate.pulse_ms", "5", "between 50 and 60000"]),
        (minimal(gate={"pulse_ms": "1500"}), ["gate.pulse_ms", "'1500'", "integer"]),
        (minimal(gate={"relay_mode": "hold"}), ["gate.relay_mode", "passage_pin"]),
        (minimal(gate={"relay_pin": 99}), ["gate.relay_pin", "99", "BCM"]),
        (minimal(gate={"relay_pin": 17, "green_led_pin": 17}), ["pin 17", "twice"]),
        (minimal(gate={"relay_pn": 17}), ["gate.relay_pn", "unknown key", "relay_pin"]),
        (minimal(policy={"accept_yellow": "yes"}),
         ["policy.accept_yellow", "'yes'", "true or false"]),
        (minimal(policy={"accepted_profiles": ["vip"]}), ["policy.accepted_profiles", "vip",
                                                           "scangate", "eu-dcc"]),
        (minimal(policy={"stale_trust_list": "maybe"}), ["policy.stale_trust_list", "maybe",
                                                          "accept, deny"]),
        (minimal(policy={"anti_passback_min": -1}), ["policy.anti_passback_min", "-1", ">= 0"]),
        (minimal(screen={"port": 70000}), ["screen.port", "70000", "between 0 and 65535"]),
        (minimal(journal={"set_aside_days": -1}), ["journal.set_aside_days", "-1"]),
        (minimal(sources=[]), ["sources", "none configured"]),
        (minimal(sources=[{"type": "usb"}]),
         ["sources[0].type", "'usb'", "camera, serial, keyboard"]),
        (minimal(sources=[{"type": "keyboard"}]), ["sources[0].device", "missing"]),
        (minimal(sources=[{"type": "keyboard", "device": "/dev/input/x", "grab": "yes"}]),
         ["sources[0].grab", "true or false"]),
        (minimal(sources=[{"type": "serial"}]), ["sources[0].port", "missing"]),
        (minimal(sources=[{"type": "serial", "port": "/dev/x", "suffix": "tab"}]),
         ["sources[0]", "tab", "crlf"]),
        (minimal(sources=[{"type": "serial", "port": "/dev/x", "baud": "fast"}]),
         ["sources[0].baud", "'fast'", "integer"]),
        (minimal(sources=[{"type": "camera", "fps": 0}]), ["sources[0]", "fps", "> 0"]),
        (minimal(sources=[{"type": "camera", "zoom": 2}]), ["sources[0].zoom", "unknown key"]),
        (minimal(terminal_id="has space"), ["terminal_id", "'has space'"]),
        (minimal(uplink={"base_url": "ftp://x"}), ["uplink", "ftp://x", "https://"]),
        (minimal(uplink={"base_url": "https://c", "ca_file": "ca.pem", "batch_size": 0}),
         ["uplink.batch_size", "0"]),
        (minimal(uplink={"base_url": "https://c", "colour": 1}), ["uplink.colour", "unknown key"]),
        (minimal(colour="blue"), ["colour", "unknown key", "terminal_id"]),
        ({"terminal_id": "t", "trust": {"root_key": "k"}}, ["sources", "[[sources]]"]),
        (minimal(identity={"vouchers": "always"}), ["identity.vouchers", "always",
                                                     "unenrolled"]),
        (minimal(identity={"renew_fraction": 0.99}), ["identity.renew_fraction", "0.99"]),
        (minimal(identity={"ca_fingerprint": "abc"}), ["identity.ca_fingerprint", "64 hex"]),
        (minimal(uplink={"base_url": "http://example.com:8300"}),
         ["uplink.base_url", "example.com", "loopback"]),
        (minimal(uplink={"base_url": "http://example.com:8300", "allow_insecure_http": True}),
         ["uplink.base_url", "example.com", "loopback"]),
        (minimal(uplink={"base_url": "https://c"}), ["uplink.ca_file", "not set", "enrol"]),
        (minimal(decoder={"backend": "tesseract"}), ["decoder.backend", "tesseract", "zxing"]),
        (minimal(journal={"quota_mb": 0}), ["journal.quota_mb", ">= 1"]),
    ],
)
def test_bad_values_name_key_value_and_allowed(doc: dict, fragments: list[str],
                                               tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        parse(doc, tmp_path)
    msg = str(err.value)
    for frag in fragments:
        assert frag in msg, (frag, msg)


def test_keyboard_wedge_source(tmp_path: Path) -> None:
    from device.sources.config import KeyboardSourceConfig

    cfg = parse(minimal(sources=[{"type": "keyboard", "device": "/dev/input/event3",
                                  "grab": False}]), tmp_path)
    kb = cfg.sources[0].config
    assert isinstance(kb, KeyboardSourceConfig) and kb.device == "/dev/input/event3"
    assert kb.grab is False


def test_no_buzzer(tmp_path: Path) -> None:
    assert parse(minimal(gate={"buzzer_pin": "none"}), tmp_path).gate.buzzer_pin is None


def test_not_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("terminal_id = \n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "nope.toml")


def test_config_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # The real-hardware example loads, but this machine has not its pinned root key:
    # `run` would fail, so `check` fails (tests/device/test_config_check.py has more).
    assert cli_main(["config", "check", str(REAL)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scangate config check: error: trust.root_key = "
                          "'/etc/scangate/root-public.pem'")
    doc = tomllib.loads(SIM.read_text())
    doc["gate"]["relay_mode"] = "sideways"
    bad = tmp_path / "bad.toml"
    bad.write_text(SIM.read_text().replace('relay_mode = "pulse"', 'relay_mode = "sideways"'))
    assert cli_main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "gate.relay_mode = 'sideways'" in err and "pulse, hold" in err


def test_config_check_console_script(tmp_path: Path) -> None:
    """The installed command, as a technician runs it."""
    from tests.device.daemon_kit import make_site

    path, _keys = make_site(tmp_path)
    exe = Path(sys.executable).with_name("scangate")
    ok = subprocess.run([str(exe), "config", "check", str(path)], capture_output=True,
                        text=True, timeout=60)
    assert ok.returncode == 0, ok.stderr
    assert "test-gate" in ok.stdout and "ok  trust list: version 1" in ok.stdout


def test_sim_example_runs_the_daemon(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """configs/sim.toml, as shipped (ports and URL aside), starts a working daemon (from
    the directory holding configs/ and run/, as its recipe says)."""
    import asyncio
    import time as _time

    import httpx
    from gpiozero.pins.mock import MockFactory

    from device.daemon.app import Daemon
    from device.verify.trustlist import TrustStore, load_root_key
    from sim.keys import make_demo_keys

    (tmp_path / "configs").mkdir()
    keys = make_demo_keys(tmp_path / "run" / "cam" / "keys")
    (tmp_path / "run" / "cam" / "state").mkdir(mode=0o700)
    TrustStore(tmp_path / "run" / "cam" / "state" / "trust-list.cose",
               load_root_key(keys.root_public)).install(keys.trust_list.read_bytes())
    text = SIM.read_text().replace("port = 8080", "port = 0")
    text = text.replace('base_url = "http://127.0.0.1:8300"', 'base_url = "http://127.0.0.1:9"')
    cfg_path = tmp_path / "configs" / "sim.toml"
    cfg_path.write_text(text)
    cfg = load_config(cfg_path)
    monkeypatch.chdir(tmp_path)

    async def body() -> dict:
        d = Daemon(cfg, pin_factory=MockFactory(), write_log=lambda _: None)
        await d.start()
        try:
            end = _time.monotonic() + 20
            async with httpx.AsyncClient(base_url=d.screen.url) as c:
                while True:
                    st = (await c.get("/api/status")).json()
                    cam = st["sources"][0]
                    if cam.get("connected") and (cam.get("fps") or 0) > 0:
                        return st
                    assert _time.monotonic() < end, st
                    await asyncio.sleep(0.2)
        finally:
            await d.stop()

    st = asyncio.run(body())
    assert st["sources"][0]["name"].startswith("camera:")
    assert st["trust"]["version"] == 1
    assert st["uplink"]["configured"] is True


def test_config_check_warns_when_the_token_is_readable_by_others(tmp_path: Path) -> None:
    from tests.device.daemon_kit import make_site

    cfg, _keys = make_site(tmp_path, uplink='[uplink]\nbase_url = "http://127.0.0.1:9"\n'
                                            'allow_insecure_http = true\n'
                                            'token = "sim-token"\n')
    scangate = str(Path(sys.executable).with_name("scangate"))
    cfg.chmod(0o644)
    loose = subprocess.run([scangate, "config", "check", str(cfg)], capture_output=True,
                           text=True, timeout=60)
    cfg.chmod(0o600)
    tight = subprocess.run([scangate, "config", "check", str(cfg)], capture_output=True,
                           text=True, timeout=60)
    assert loose.returncode == 0 and tight.returncode == 0, loose.stderr + tight.stderr
    assert f"chmod 600 {cfg}" in loose.stdout
    assert "warning" not in tight.stdout
