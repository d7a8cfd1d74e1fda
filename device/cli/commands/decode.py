"""``scangate decode``: read the QR codes in image files (a technician checks a photo)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

EXIT_OK, EXIT_MISSING, EXIT_USAGE = 0, 1, 2


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "decode",
        help="read the QR codes in image files",
        description="Read the QR codes in image files (PNG, JPEG, ...) with the terminal's "
                    "decoder; where zxing-cpp finds a code it cannot read, sharpened and "
                    "upscaled crops of that region are tried. "
                    "Exit status: 0 every image held a code, 1 some held none, "
                    "2 an image could not be read or a bad option.",
    )
    p.add_argument("--json", action="store_true",
                   help='one JSON object per image: {"file", "codes", "ms"}')
    # The names straight from the entry points: building the parser imports no OpenCV.
    names = sorted({ep.name for ep in entry_points(group="scangate.decoders")})
    p.add_argument("--backend", default="zxing", metavar="NAME",
                   help=f"decoder backend (default zxing; installed: {', '.join(names)})")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image file(s)")
    p.set_defaults(func=run)


def _text(payload: bytes) -> str:
    return payload.decode("utf-8", errors="replace")


def _read_image(path: str) -> tuple[np.ndarray[Any, Any] | None, str]:
    import cv2
    import numpy as np

    if not os.path.exists(path):
        return None, "no such file"
    if os.path.isdir(path):
        return None, "is a directory"
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        return None, exc.strerror or str(exc)
    img = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if img is None:
        return None, "not an image OpenCV can read (PNG, JPEG, BMP, ...)"
    return img, ""


def run(args: argparse.Namespace) -> int:
    from device.decode import still_decoder

    decoder = still_decoder(args.backend)  # BackendError -> "scangate: error: ..." exit 2
    unreadable = 0
    missing = 0
    for path in args.images:
        img, why = _read_image(path)
        if img is None:
            unreadable += 1
            print(f"scangate decode: error: cannot read {path}: {why}", file=sys.stderr)
            continue
        t0 = time.perf_counter()
        codes = decoder.decode(img)
        ms = (time.perf_counter() - t0) * 1000
        if not codes:
            missing += 1
        if args.json:
            print(json.dumps({"file": path, "codes": [_text(c) for c in codes],
                              "ms": round(ms, 2)}, ensure_ascii=False))
        else:
            label = f"{len(codes)} code{'s' if len(codes) != 1 else ''}" if codes else "no code"
            print(f"{path}: {label} ({ms:.1f} ms)")
            for c in codes:
                print(f"  {_text(c)}")
        sys.stdout.flush()
    if unreadable:
        return EXIT_USAGE
    return EXIT_MISSING if missing else EXIT_OK
