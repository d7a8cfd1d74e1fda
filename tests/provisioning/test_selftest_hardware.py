"""Self-test, camera and readers on simulated hardware: the sim camera showing the test
card rendered at test time, a serial reader on a real pty."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import serial

from provisioning.selftest.daemon import RunningDaemon
from provisioning.selftest.result import Status
from provisioning.selftest.testcard import TEST_CARD_PAYLOAD, write_test_card
from sim.serial_pty import SimSerialReader
from tests.provisioning.selftest_support import by_name, run, write_config, write_trust

NOT_HARDWARE = frozenset({"gate", "clock", "disk", "journal", "trust", "centre"})


@pytest.fixture
def reader() -> Iterator[SimSerialReader]:
    r = SimSerialReader()
    try:
        yield r
    finally:
        r.close()


def _camera(device: Path | str, **kw: Any) -> dict[str, Any]:
    return {"type": "camera", "backend": "sim", "device": str(device), "width": 640,
            "height": 480, "fps": 20, **kw}


def _config(tmp: Path, sources: list[dict[str, Any]]) -> Path:
    return write_config(tmp, sources=sources, trust=write_trust(tmp / "trust"))


def _card_dir(tmp: Path) -> Path:
    d = tmp / "card"
    d.mkdir()
    write_test_card(d / "card.png")
    return d


# --------------------------------------------------------------------------- camera


def test_camera_counts_frames_and_decodes_the_test_card(tmp_path: Path) -> None:
    prompts: list[str] = []
    lines = by_name(run(_config(tmp_path, [_camera(_card_dir(tmp_path))]), skip=NOT_HARDWARE,
                        prompt=prompts.append))
    frames, card = lines["camera frames"], lines["camera test card"]
    assert frames.status is Status.PASS, frames
    assert "frames/s from camera:" in frames.detail
    assert card.status is Status.PASS, card
    assert card.detail.startswith("test card decoded")
    assert any("Hold the test card" in p for p in prompts)
    assert lines["serial reader"].status is Status.SKIP  # none configured


def test_blank_scene_fails_the_card_with_a_remedy(tmp_path: Path) -> None:
    d = tmp_path / "blank"
    d.mkdir()
    cv2.imwrite(str(d / "grey.png"), np.full((240, 320, 3), 128, np.uint8))
    lines = by_name(run(_config(tmp_path, [_camera(d)]), skip=NOT_HARDWARE,
                        camera_timeout_s=0.5))
    assert lines["camera frames"].status is Status.PASS
    card = lines["camera test card"]
    assert card.status is Status.FAIL
    assert "no QR code decoded" in card.detail and "test card" in card.remedy


def test_a_code_that_is_not_the_card_is_not_shown(tmp_path: Path) -> None:
    import segno

    d = tmp_path / "other"
    d.mkdir()
    secret = "PERSONAL-DATA-1234567"
    segno.make_qr(secret).save(str(d / "code.png"), scale=8)
    results = run(_config(tmp_path, [_camera(d)]), skip=NOT_HARDWARE)
    card = by_name(results)["camera test card"]
    assert card.status is Status.PASS and "not the test card" in card.detail
    assert not any(secret in r.detail or secret in r.remedy for r in results)


def test_camera_that_cannot_open_fails_and_the_card_is_skipped(tmp_path: Path) -> None:
    lines = by_name(run(_config(tmp_path, [_camera(tmp_path / "no-such-dir")]),
                        skip=NOT_HARDWARE))
    assert lines["camera frames"].status is Status.FAIL
    assert "cannot open" in lines["camera frames"].detail
    assert "ls /dev/video" in lines["camera frames"].remedy
    assert lines["camera test card"].status is Status.SKIP


def test_unknown_backend_fails_naming_the_key(tmp_path: Path) -> None:
    lines = by_name(run(_config(tmp_path, [_camera("scenes", backend="nosuch")]),
                        skip=NOT_HARDWARE))
    assert lines["camera frames"].status is Status.FAIL
    assert "sources[0].backend" in lines["camera frames"].remedy


def test_camera_in_use_by_the_daemon_is_reported_from_its_status(tmp_path: Path) -> None:
    d = _card_dir(tmp_path)
    status = {"sources": [{"name": f"camera:{d}", "kind": "camera", "connected": True,
                           "fps": 19.5}]}
    lines = by_name(run(_config(tmp_path, [_camera(d)]), skip=NOT_HARDWARE,
                        daemon=RunningDaemon(via="staff screen x", status=status)))
    assert lines["camera frames"].status is Status.PASS
    assert "19.5 frames/s" in lines["camera frames"].detail
    assert "running daemon" in lines["camera frames"].detail
    assert lines["camera test card"].status is Status.SKIP
    assert "systemctl stop scangate" in lines["camera test card"].remedy


# --------------------------------------------------------------------------- serial


def test_serial_port_opens(tmp_path: Path, reader: SimSerialReader) -> None:
    line = by_name(run(_config(tmp_path, [{"type": "serial", "port": reader.path}]),
                       skip=NOT_HARDWARE))["serial reader"]
    assert line.status is Status.PASS, line
    assert "opened (9600 8N1, suffix crlf)" in line.detail
    assert "--scan-serial" in line.remedy


def _answer_prompt(reader: SimSerialReader, data: bytes) -> Any:
    def prompt(message: str) -> None:
        if "Scan the test card" in message:
            threading.Timer(0.1, reader.write, args=(data,)).start()
    return prompt


def test_scanned_test_card_within_the_timeout(tmp_path: Path, reader: SimSerialReader) -> None:
    cfg = _config(tmp_path, [{"type": "serial", "port": reader.path}])
    line = by_name(run(cfg, skip=NOT_HARDWARE, scan_serial=True, serial_timeout_s=10,
                       prompt=_answer_prompt(reader, TEST_CARD_PAYLOAD + b"\r\n")))[
        "serial reader"]
    assert line.status is Status.PASS, line
    assert "read the test card" in line.detail


def test_nothing_scanned_fails(tmp_path: Path, reader: SimSerialReader) -> None:
    cfg = _config(tmp_path, [{"type": "serial", "port": reader.path}])
    line = by_name(run(cfg, skip=NOT_HARDWARE, scan_serial=True, serial_timeout_s=0.3))[
        "serial reader"]
    assert line.status is Status.FAIL and "nothing read" in line.detail


def test_wrong_suffix_is_named(tmp_path: Path, reader: SimSerialReader) -> None:
    cfg = _config(tmp_path, [{"type": "serial", "port": reader.path, "suffix": "crlf"}])
    # the reader ends codes with a TAB: bytes arrive, no code completes
    line = by_name(run(cfg, skip=NOT_HARDWARE, scan_serial=True, serial_timeout_s=1.0,
                       prompt=_answer_prompt(reader, TEST_CARD_PAYLOAD + b"\t")))[
        "serial reader"]
    assert line.status is Status.FAIL
    assert "no complete code" in line.detail and "suffix" in line.remedy


def test_missing_port_fails(tmp_path: Path) -> None:
    line = by_name(run(_config(tmp_path, [{"type": "serial", "port": str(tmp_path / "tty")}]),
                       skip=NOT_HARDWARE))["serial reader"]
    assert line.status is Status.FAIL
    assert "does not exist" in line.detail and "sources[0].port" in line.remedy


def test_port_held_by_another_program_is_in_use_not_failed(tmp_path: Path,
                                                           reader: SimSerialReader) -> None:
    held = serial.Serial(reader.path, exclusive=True)  # as the daemon holds it
    try:
        line = by_name(run(_config(tmp_path, [{"type": "serial", "port": reader.path}]),
                           skip=NOT_HARDWARE))["serial reader"]
    finally:
        held.close()
    assert line.status is Status.WARN
    assert "in use by another program (probably the running daemon)" in line.detail


def test_port_of_the_running_daemon_is_reported_from_its_status(
        tmp_path: Path, reader: SimSerialReader) -> None:
    status = {"sources": [{"name": f"serial:{reader.path}", "kind": "serial",
                           "connected": True}]}
    line = by_name(run(_config(tmp_path, [{"type": "serial", "port": reader.path}]),
                       skip=NOT_HARDWARE, scan_serial=True,
                       daemon=RunningDaemon(via="staff screen x", status=status)))[
        "serial reader"]
    assert line.status is Status.PASS
    assert "in use by the running daemon" in line.detail


def test_keyboard_reader_device_is_checked(tmp_path: Path) -> None:
    node = tmp_path / "event-kbd"
    node.write_bytes(b"")
    lines = by_name(run(_config(tmp_path, [{"type": "keyboard", "device": str(node)},
                                           {"type": "keyboard",
                                            "device": str(tmp_path / "gone")}]),
                        skip=NOT_HARDWARE))
    assert lines[f"keyboard reader [keyboard:{node}]"].status is Status.PASS
    assert lines[f"keyboard reader [keyboard:{tmp_path / 'gone'}]"].status is Status.FAIL
