"""pyzbar (ZBar): a selectable backend. Needs the system library libzbar0."""

from __future__ import annotations

from typing import Any

from device.decode.base import Frame, to_gray, unique
from device.errors import BackendError

_MISSING = (
    "the pyzbar decoder needs the system library libzbar0, which is not installed here; "
    "install it with `sudo apt-get install libzbar0` (or run scripts/setup-system.sh), "
    "or choose another decoder (zxing, opencv)"
)


def _load_pyzbar() -> Any:
    try:
        from pyzbar import pyzbar
    except ImportError as exc:  # pyzbar missing, or ctypes cannot find libzbar.so.0
        if "zbar" in str(exc).lower() and "pyzbar" not in str(exc).lower():
            raise BackendError(_MISSING) from exc
        if isinstance(exc, ModuleNotFoundError) and exc.name == "pyzbar":
            raise BackendError(
                "the pyzbar decoder needs the Python package pyzbar "
                "(pip install 'scangate[pyzbar]') and the system library libzbar0"
            ) from exc
        raise BackendError(_MISSING) from exc
    return pyzbar


class PyzbarDecoder:
    """QR codes through ZBar. Inverted codes are read by a second pass on the negative.

    ZBar transcodes byte-mode payloads it takes for ISO-8859-1 into UTF-8, so it is not
    binary-safe for bytes >= 0x80 (our codes and EU DCCs are ASCII: no matter there).
    """

    name = "pyzbar"

    def __init__(self) -> None:
        self._pyzbar = _load_pyzbar()
        self._symbols = [self._pyzbar.ZBarSymbol.QRCODE]

    def decode(self, frame: Frame) -> list[bytes]:
        gray = to_gray(frame)
        found = self._pyzbar.decode(gray, symbols=self._symbols)
        if not found:
            found = self._pyzbar.decode(255 - gray, symbols=self._symbols)
        return unique([bytes(d.data) for d in found])
