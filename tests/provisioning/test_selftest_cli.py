"""``scangate selftest`` end to end on simulated hardware, as CI runs it: the sim camera
showing the test card, a serial reader on a pty, gpiozero mock pins, a real journal and
trust list, and the stand-in centre over real TLS on 127.0.0.1 demanding the terminal's
client certificate (all certificates made at test time)."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import pytest

from device.cli.main import main
from device.decode import load_decoder
from device.journal import Journal
from provisioning.selftest.testcard import TEST_CARD_PAYLOAD
from sim.central.server import CentralServer
from sim.serial_pty import SimSerialReader
from tests.device.uplink_support import fill
from tests.provisioning.selftest_support import (
    is_sentence,
    make_pki,
    mtls_centre,
    serve_identity,
    stream_cli,
    uplink_for,
    wait_until,
    write_config,
    write_trust,
)
from tests.test_layout import violations

ALL_LINES = ["config", "daemon", "camera frames", "camera test card", "serial reader",
             "gate outputs", "clock", "disk space", "journal", "trust list",
             "centre reachable", "centre mTLS", "client certificate"]
FAST = ["--pulse-ms", "20", "--camera-measure", "0.5", "--camera-timeout", "10",
        "--serial-timeout", "15"]


@dataclass
class Site:
    tmp: Path
    config: Path
    reader: SimSerialReader
    centre: CentralServer


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Site]:
    from provisioning.selftest.testcard import write_test_card

    card = tmp_path / "card"
    card.mkdir()
    write_test_card(card / "card.png")
    reader = SimSerialReader(link_path=tmp_path / "ttyACM-sim")
    pki = make_pki(tmp_path)
    trust = write_trust(tmp_path / "trust")
    centre = mtls_centre(tmp_path, pki, trust_list=trust[1])
    serve_identity(monkeypatch, centre)
    j = Journal(tmp_path / "state" / "journal.db", terminal_id="selftest-0001",
                min_free_bytes=0, quota_bytes=64 * 2**20)
    fill(j, 12, t0=time.time() - 120)
    j.close()
    config = write_config(
        tmp_path, trust=trust, uplink=uplink_for(centre.url, pki),
        sources=[{"type": "camera", "backend": "sim", "device": str(card), "width": 640,
                  "height": 480, "fps": 20},
                 {"type": "serial", "port": reader.path}])
    try:
        yield Site(tmp_path, config, reader, centre)
    finally:
        centre.stop()
        reader.close()


def _scan_when_asked(reader: SimSerialReader) -> Any:
    def on_stderr(line: str, _out: list[str]) -> None:
        if "Scan the test card" in line:
            threading.Timer(0.1, reader.write, args=(TEST_CARD_PAYLOAD + b"\r\n",)).start()
    return on_stderr


def test_json_all_pass_on_simulated_hardware(site: Site) -> None:
    code, out, err = stream_cli(["selftest", "--config", str(site.config), "--json",
                                 "--scan-serial", *FAST], on_stderr=_scan_when_asked(site.reader))
    doc = json.loads("\n".join(out))
    assert list(doc) == ["checks"]
    checks = doc["checks"]
    assert all(list(c) == ["name", "status", "detail", "remedy"] for c in checks)
    assert [c["name"] for c in checks] == ALL_LINES
    assert {c["name"]: c["status"] for c in checks} == dict.fromkeys(ALL_LINES, "PASS"), checks
    assert code == 0
    by = {c["name"]: c for c in checks}
    assert by["camera test card"]["detail"].startswith("test card decoded")
    assert "read the test card" in by["serial reader"]["detail"]
    assert "simulated pins" in by["gate outputs"]["detail"]
    assert by["journal"]["detail"].startswith("integrity_check ok; 12 records")
    assert "accepted this terminal's certificate (GET /v1/identity → 200)" in \
        by["centre mTLS"]["detail"]
    assert all(is_sentence(c["remedy"]) for c in checks)
    # progress went to stderr line by line, each check as it finished: the camera's lines
    # were out before the serial reader asked for its scan
    progress = [line for line in err if line.startswith("selftest: ")]
    assert progress == [f"selftest: PASS {n}" for n in ALL_LINES]
    asked = next(i for i, line in enumerate(err) if "Scan the test card" in line)
    assert err.index("selftest: PASS camera test card") < asked
    assert not any("Traceback" in line for line in err)


def test_table_prints_each_line_as_its_check_finishes(site: Site) -> None:
    seen_before_scan: list[list[str]] = []

    def on_stderr(line: str, out: list[str]) -> None:
        if "Scan the test card" in line:
            # the table lines of the camera are already on stdout while the reader waits
            wait_until(lambda: any(x.startswith("PASS   camera test card") for x in out), 10)
            seen_before_scan.append(list(out))
            site.reader.write(TEST_CARD_PAYLOAD + b"\r\n")

    code, out, _ = stream_cli(["selftest", "--config", str(site.config), "--scan-serial",
                               *FAST], on_stderr=on_stderr)
    assert code == 0, out
    assert out[0].split() == ["STATUS", "CHECK", "DETAIL", "->", "REMEDY"]
    rows = out[1:-1]
    assert [re.split(r"\s{2,}", r, maxsplit=2)[1] for r in rows] == ALL_LINES
    assert all(r.startswith("PASS ") and " -> " in r for r in rows)
    assert out[-1] == "selftest: 13 PASS, 0 WARN, 0 FAIL, 0 SKIP: all good"
    assert len(seen_before_scan) == 1
    before = seen_before_scan[0]
    assert any(x.startswith("PASS   camera test card") for x in before)
    assert not any("gate outputs" in x for x in before)  # not yet: it runs after the reader


def _main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str],
                                                                       list[str]]:
    """The CLI in this process (as fast as a function call); SystemExit from argparse is
    its exit code."""
    try:
        code = main(args)
    except SystemExit as exc:
        code = int(exc.code or 0)
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.err.splitlines()


def test_a_fail_line_exits_1_with_valid_json(site: Site,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (site.tmp / "trust" / "trust-list.cose").unlink()
    site.centre.faults.set("status", code=403)
    code, out, err = _main(["selftest", "--config", str(site.config), "--json",
                            "--skip", "camera", "--skip", "readers", *FAST], capsys)
    assert code == 1
    by = {c["name"]: c for c in json.loads("\n".join(out))["checks"]}
    assert by["trust list"]["status"] == "FAIL"
    assert by["centre mTLS"]["status"] == "FAIL" and "revoked" in by["centre mTLS"]["detail"]
    assert by["camera"]["status"] == "SKIP" and by["readers"]["status"] == "SKIP"
    assert all(is_sentence(c["remedy"]) for c in by.values())
    assert not any("Traceback" in line for line in err)


def test_bad_configuration_is_a_fail_line_naming_the_key(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('terminal_id = "x"\n[trust]\nroot_key = "k"\n[gate]\nrelay_pin = 99\n')
    code, out, _ = _main(["selftest", "--config", str(bad), "--json"], capsys)
    assert code == 1
    (line,) = json.loads("\n".join(out))["checks"]
    assert line["name"] == "config" and line["status"] == "FAIL"
    assert "gate.relay_pin" in line["detail"] and "scangate config check" in line["remedy"]
    code, out, _ = _main(["selftest", "--config", str(tmp_path / "missing.toml")], capsys)
    assert code == 1
    assert out[1].startswith("FAIL   config") and "not found" in out[1]
    assert out[-1].startswith("selftest: 0 PASS, 0 WARN, 1 FAIL")


@pytest.mark.parametrize("args", [["selftest"], ["selftest", "--config", "x", "--pulse-ms", "0"],
                                  ["selftest", "--config", "x", "--skip", "nothing"],
                                  ["selftest", "--test-card", "card.jpg"]])
def test_bad_input_is_one_line_and_exit_2(args: list[str],
                                          capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _main(args, capsys)
    assert code == 2
    errors = [line for line in err if "error:" in line]
    assert len(errors) == 1, err
    assert not any("Traceback" in line for line in err)


def test_test_card_is_written_and_decodes(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    png = tmp_path / "card.png"
    code, out, _ = _main(["selftest", "--test-card", str(png)], capsys)
    assert code == 0 and "wrote the test card" in out[0]
    img = cv2.imread(str(png))
    assert load_decoder("zxing").decode(img) == [TEST_CARD_PAYLOAD]


def test_help_exists(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _main(["selftest", "--help"], capsys)
    assert code == 0 and "--json" in "\n".join(out) and "--force" in "\n".join(out)


def test_provisioning_never_imports_sim() -> None:
    # the technician's tools run on terminals; the simulator is found by entry point only
    assert violations("provisioning", ("sim",)) == []
