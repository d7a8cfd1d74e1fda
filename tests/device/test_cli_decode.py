"""``scangate decode [--json] [--backend NAME] IMAGE...``"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from device.cli.main import main
from sim.scenes import SceneSpec, render_scene


@pytest.fixture()
def images(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, spec in {
        "phone": SceneSpec(payload="HC1:CLI-DECODE-1", module_px=4),
        "dark": SceneSpec(payload="HC1:CLI-DARK", module_px=4, dark_mode=True),
        "empty": SceneSpec(payload=None, phone=False),
    }.items():
        p = tmp_path / f"{name}.png"
        cv2.imwrite(str(p), render_scene(spec))
        out[name] = p
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    out["bad"] = bad
    return out


Cap = pytest.CaptureFixture[str]


def test_json_one_object_per_image_exit_0(images: dict[str, Path], capsys: Cap) -> None:
    assert main(["decode", "--json", str(images["phone"]), str(images["dark"])]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [(o["file"], o["codes"]) for o in lines] == [
        (str(images["phone"]), ["HC1:CLI-DECODE-1"]),
        (str(images["dark"]), ["HC1:CLI-DARK"]),
    ]
    assert all(isinstance(o["ms"], float | int) and o["ms"] >= 0 for o in lines)


def test_an_image_without_code_exits_1(images: dict[str, Path], capsys: Cap) -> None:
    assert main(["decode", str(images["phone"]), str(images["empty"])]) == 1
    out = capsys.readouterr().out
    assert "1 code" in out and "HC1:CLI-DECODE-1" in out
    assert f"{images['empty']}: no code" in out


def test_unreadable_file_exits_2_with_a_message(
    images: dict[str, Path], tmp_path: Path, capsys: Cap
) -> None:
    missing = tmp_path / "missing.jpg"
    assert main(["decode", "--json", str(images["bad"]), str(missing), str(images["phone"])]) == 2
    cap = capsys.readouterr()
    assert f"cannot read {images['bad']}: not an image" in cap.err
    assert f"cannot read {missing}: no such file" in cap.err
    assert json.loads(cap.out)["codes"] == ["HC1:CLI-DECODE-1"]  # the readable one still read


@pytest.mark.parametrize("backend", ["zxing", "opencv"])
def test_backend_option(backend: str, images: dict[str, Path], capsys: Cap) -> None:
    assert main(["decode", "--json", "--backend", backend, str(images["phone"])]) == 0
    assert json.loads(capsys.readouterr().out)["codes"] == ["HC1:CLI-DECODE-1"]


def test_unknown_backend_exits_2(images: dict[str, Path], capsys: Cap) -> None:
    assert main(["decode", "--backend", "tesseract", str(images["phone"])]) == 2
    assert "unknown decoder backend 'tesseract'" in capsys.readouterr().err
