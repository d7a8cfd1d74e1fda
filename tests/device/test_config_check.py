"""`scangate config check` gives `scangate run`'s verdict (short of binding ports).

Both call ``device.config.preflight``. For each broken site below, check must fail with
exactly the message run fails with (before this, check said OK for a missing root key
and for ``state_dir = "/proc/x"``, and run then crashed).
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from device.cli.main import main as cli_main
from device.config import load_config, preflight
from device.errors import ConfigError
from sim.tlscerts import make_test_pki
from tests.device.daemon_kit import make_site

Site = Callable[[Path], Path]


def _site(tmp: Path, **kw: str) -> Path:
    path, _keys = make_site(tmp, **kw)
    return path


def _edit(path: Path, old: str, new: str) -> Path:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


def missing_root_key(tmp: Path) -> Path:
    return _edit(_site(tmp), 'root_key = "keys/root.pub.pem"', 'root_key = "keys/nope.pem"')


def garbage_root_key(tmp: Path) -> Path:
    path = _site(tmp)
    (tmp / "keys" / "root.pub.pem").write_text("not a key\n")
    return path


def state_dir_in_proc(tmp: Path) -> Path:
    path = _site(tmp)
    text = path.read_text().replace('state_dir = "state"', 'state_dir = "/proc/x"')
    path.write_text(text.replace('trust_list = "state/trust-list.cose"', ""))
    return path


def journal_in_proc(tmp: Path) -> Path:
    return _site(tmp, extra='[journal]\npath = "/proc/x/journal.db"\n')


def timefloor_in_proc(tmp: Path) -> Path:
    return _site(tmp, extra='[timefloor]\npath = "/proc/x/timefloor.json"\n')


def corrupt_trust_list(tmp: Path) -> Path:
    path = _site(tmp)
    (tmp / "state" / "trust-list.cose").write_bytes(b"\xa0garbage")
    return path


def https_without_ca(tmp: Path) -> Path:
    return _site(tmp, uplink='[uplink]\nbase_url = "https://central.example.cn"\n')


def missing_ca_file(tmp: Path) -> Path:
    return _site(tmp, uplink='[uplink]\nbase_url = "https://central.example.cn"\n'
                             'ca_file = "nope-ca.pem"\n')


def garbage_client_cert(tmp: Path) -> Path:
    pki = make_test_pki(tmp / "pki")
    (tmp / "client.pem").write_text("junk")
    (tmp / "client.key").write_text("junk")
    return _site(tmp, uplink=f'[uplink]\nbase_url = "https://central.example.cn"\n'
                             f'ca_file = "{pki.ca_cert}"\nclient_cert = "client.pem"\n'
                             'client_key = "client.key"\n')


def unknown_camera_backend(tmp: Path) -> Path:
    return _site(tmp, sources='[[sources]]\ntype = "camera"\nbackend = "gopro"\n'
                              'device = "0"\n')


def bad_sim_scene(tmp: Path) -> Path:
    return _site(tmp, sources='[[sources]]\ntype = "camera"\nbackend = "sim"\n'
                              'device = "/nope/frames"\n')


def gpio_library_missing(tmp: Path) -> Path:
    return _edit(_site(tmp), 'pin_factory = "mock"', 'pin_factory = "rpigpio"')


BROKEN: dict[str, tuple[Site, str]] = {
    "missing root key": (missing_root_key, "trust.root_key = "),
    "garbage root key": (garbage_root_key, "trust.root_key = "),
    "state_dir in /proc": (state_dir_in_proc, "state_dir = '/proc/x': cannot create"),
    "journal in /proc": (journal_in_proc,
                         "journal.path = '/proc/x/journal.db': cannot create /proc/x"),
    "time floor in /proc": (timefloor_in_proc,
                            "timefloor.path = '/proc/x/timefloor.json': cannot create"),
    "corrupt trust list": (corrupt_trust_list, "trust.trust_list = "),
    "missing CA file": (missing_ca_file, "cannot load the pinned central CA"),
    "garbage client cert": (garbage_client_cert, "client certificate"),
    "unknown camera backend": (unknown_camera_backend, "unknown camera backend 'gopro'"),
    "bad sim camera spec": (bad_sim_scene, "sources[0] = 'sim': sim camera source"),
}


def _error(err: str, command: str) -> str:
    lines = [x for x in err.splitlines() if x.startswith(f"scangate {command}: error: ")]
    assert len(lines) == 1, err
    return lines[0].split(": error: ", 1)[1]


@pytest.mark.parametrize("name", list(BROKEN))
def test_check_fails_exactly_as_run_fails(name: str, tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    make, expected = BROKEN[name]
    path = make(tmp_path)
    load_config(path)  # the file itself is fine: what is wrong is on this machine
    assert cli_main(["config", "check", str(path)]) == 2
    check = _error(capsys.readouterr().err, "config check")
    assert expected in check
    assert cli_main(["run", "--config", str(path)]) == 2
    run = _error(capsys.readouterr().err, "run")
    assert run == check


def test_https_without_a_pinned_ca_is_refused_alike_by_check_and_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A rule of the file itself now (UplinkConfig: https needs the pinned CA, or an
    # enrolled identity), so both refuse it before looking at the machine.
    path = https_without_ca(tmp_path)
    with pytest.raises(ConfigError, match=r"uplink\.ca_file is not set"):
        load_config(path)
    assert cli_main(["config", "check", str(path)]) == 2
    check = _error(capsys.readouterr().err, "config check")
    assert "uplink.ca_file is not set" in check and "scangate provision enroll" in check
    assert cli_main(["run", "--config", str(path)]) == 2
    assert _error(capsys.readouterr().err, "run") == check


@pytest.mark.skipif(importlib.util.find_spec("RPi") is not None, reason="RPi.GPIO is here")
def test_a_gpio_library_that_cannot_load_fails_check(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    path = gpio_library_missing(tmp_path)
    assert cli_main(["config", "check", str(path)]) == 2
    check = _error(capsys.readouterr().err, "config check")
    assert "gate.pin_factory = 'rpigpio'" in check and "cannot load here" in check
    assert cli_main(["run", "--config", str(path)]) == 2
    assert _error(capsys.readouterr().err, "run") == check


def test_a_good_site_passes_and_check_leaves_no_trace(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path = _edit(_site(tmp_path), 'state_dir = "state"', 'state_dir = "fresh/state"')
    _edit(path, "[trust]", '[journal]\npath = "fresh/j/journal.db"\n[trust]')
    assert cli_main(["config", "check", str(path)]) == 0
    out = capsys.readouterr().out
    assert "OK" in out and "ok  root key" in out and "ok  trust list: version 1" in out
    assert not (tmp_path / "fresh").exists()  # created to test, then removed
    ready = preflight(load_config(path))  # what run does: the directories stay
    ready.close()
    assert (tmp_path / "fresh" / "state").is_dir() and (tmp_path / "fresh" / "j").is_dir()
    assert (tmp_path / "fresh" / "state").stat().st_mode & 0o777 == 0o700


def test_a_missing_trust_list_is_a_warning(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = _site(tmp_path)
    (tmp_path / "state" / "trust-list.cose").unlink()
    assert cli_main(["config", "check", str(path)]) == 0
    assert re.search(r"warning: no trust list installed at .*every code will be denied",
                     capsys.readouterr().out)


def test_a_privileged_screen_port_needs_root(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(_edit(_site(tmp_path), "port = 0", "port = 80"))
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    with pytest.raises(ConfigError, match=r"screen\.port = 80: ports below 1024 need root"):
        preflight(cfg, dry_run=True)


def test_the_unit_runs_check_before_run() -> None:
    unit = (Path(__file__).resolve().parents[2] / "systemd" / "scangate.service").read_text()
    pre = re.search(r"^ExecStartPre=(.*)$", unit, re.M)
    start = re.search(r"^ExecStart=(.*)$", unit, re.M)
    assert pre and start
    assert pre.group(1).split()[1:3] == ["config", "check"]
    assert pre.group(1).split()[-1] == start.group(1).split()[-1]  # the same file
