"""Decoder backends, found by name through the ``scangate.decoders`` entry points."""

from __future__ import annotations

import ctypes.util
import io

import cv2
import numpy as np
import pytest
import segno

from device.decode import decoder_names, load_decoder, to_gray
from device.decode.base import Frame
from device.errors import BackendError

PAYLOAD = b"HC1:NCFOXN%TS3DH3ZSUZK+.V0ETD%65NL-AH-R6IOO6+IUKRG*I.I1"


def code_image(payload: bytes, *, scale: int = 4, invert: bool = False) -> Frame:
    buf = io.BytesIO()
    segno.make_qr(payload, error="m").save(buf, kind="png", scale=scale, border=4)
    img = np.asarray(
        cv2.imdecode(np.frombuffer(buf.getvalue(), np.uint8), cv2.IMREAD_GRAYSCALE), np.uint8
    )
    return np.asarray(255 - img, np.uint8) if invert else img


def on_frame(code: Frame, size: tuple[int, int] = (640, 480), bgr: bool = True) -> Frame:
    w, h = size
    frame = np.full((h, w), 110, np.uint8)
    y, x = (h - code.shape[0]) // 2, (w - code.shape[1]) // 3
    frame[y : y + code.shape[0], x : x + code.shape[1]] = code
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), np.uint8) if bgr else frame


def zbar_missing() -> bool:
    try:
        from pyzbar import pyzbar  # noqa: F401
    except ImportError:
        return True
    return ctypes.util.find_library("zbar") is None


BACKENDS = [
    "zxing",
    "opencv",
    pytest.param(
        "pyzbar",
        marks=pytest.mark.skipif(
            zbar_missing(),
            reason="libzbar0 is not installed (run scripts/setup-system.sh): pyzbar untested",
        ),
    ),
]


def test_the_three_backends_are_registered() -> None:
    assert {"zxing", "pyzbar", "opencv"} <= set(decoder_names())


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize("bgr", [True, False])
def test_backend_reads_a_code(name: str, bgr: bool) -> None:
    dec = load_decoder(name)
    assert dec.name == name
    assert dec.decode(on_frame(code_image(PAYLOAD), bgr=bgr)) == [PAYLOAD]


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_reads_light_on_dark(name: str) -> None:
    """Dark-mode phones show light modules on a dark screen."""
    frame = on_frame(code_image(PAYLOAD, invert=True))
    assert load_decoder(name).decode(frame) == [PAYLOAD]


@pytest.mark.parametrize("name", BACKENDS)
def test_backend_returns_nothing_on_an_empty_frame(name: str) -> None:
    rng = np.random.default_rng(1)
    empty = rng.integers(0, 256, (480, 640), dtype=np.uint8)
    empty = np.asarray(cv2.GaussianBlur(empty, (0, 0), 2.0), np.uint8)
    assert load_decoder(name).decode(empty) == []


def test_binary_payload_is_kept_byte_for_byte() -> None:
    payload = b"HC1:\x00\x01\r\n\xff\xfe binary"
    assert load_decoder("zxing").decode(on_frame(code_image(payload))) == [payload]


def test_two_codes_in_one_frame() -> None:
    frame = np.full((480, 640), 120, np.uint8)
    a, b = code_image(b"HC1:CODE-A", scale=5), code_image(b"HC1:CODE-B", scale=5)
    frame[40 : 40 + a.shape[0], 40 : 40 + a.shape[1]] = a
    frame[240 : 240 + b.shape[0], 380 : 380 + b.shape[1]] = b
    assert sorted(load_decoder("zxing").decode(frame)) == [b"HC1:CODE-A", b"HC1:CODE-B"]


def test_unknown_backend_names_the_available_ones() -> None:
    with pytest.raises(BackendError, match=r"decoder backend 'nope'.*opencv.*pyzbar.*zxing"):
        load_decoder("nope")


def test_pyzbar_without_libzbar_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    """libzbar0 cannot be uninstalled here, so its absence is simulated at the import."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("pyzbar"):
            raise ImportError("Unable to find zbar shared library")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(BackendError, match=r"libzbar0.*scripts/setup-system\.sh"):
        load_decoder("pyzbar")


def test_to_gray_accepts_grey_bgr_bgra() -> None:
    bgr = np.zeros((4, 5, 3), np.uint8)
    assert to_gray(bgr).shape == (4, 5)
    assert to_gray(np.zeros((4, 5, 4), np.uint8)).shape == (4, 5)
    assert to_gray(np.zeros((4, 5), np.uint8)).shape == (4, 5)
    with pytest.raises(ValueError):
        to_gray(np.zeros((2, 3, 4, 5), np.uint8))
