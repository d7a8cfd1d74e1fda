"""``scangate scan``: print, live, each code a camera or serial reader reads (after de-dup).

A technician's check at the gate: is the reader wired right, does the camera read phones?
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import json
import signal
import sys
from typing import Any

from device.errors import ConfigError
from device.sources.config import (
    SUFFIXES,
    CameraSourceConfig,
    KeyboardSourceConfig,
    SerialSourceConfig,
    SourceConfig,
)
from device.sources.factory import Deduper, build_source

EXIT_OK = 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser(
        "scan",
        help="print each code a camera or a reader reads (live, after de-dup)",
        description="Read codes live from a camera or a serial QR reader and print each one "
                    "(after de-duplication). Ctrl-C stops. Status changes (opened, lost, "
                    "reopened) go to standard error.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--camera", metavar="INDEX|PATH",
                     help="camera index (0), device path (/dev/video2), or sim:SPEC for the "
                          "simulated camera (sim:scenes, sim:/path/to/frames)")
    src.add_argument("--serial", metavar="PORT", help="serial reader, e.g. /dev/ttyACM0")
    src.add_argument("--keyboard", metavar="DEVICE",
                     help="keyboard-wedge reader's event node, e.g. "
                          "/dev/input/by-id/usb-...-event-kbd")
    p.add_argument("--baud", type=int, default=9600, help="serial baud rate (default 9600)")
    p.add_argument("--parity", choices=("N", "E", "O", "M", "S"), default="N",
                   help="serial parity (default N)")
    p.add_argument("--suffix", choices=tuple(SUFFIXES), default="crlf",
                   help="what the reader ends each code with (default crlf)")
    p.add_argument("--camera-backend", default=None, metavar="NAME",
                   help="camera backend: opencv (default), picamera2, sim")
    p.add_argument("--backend", "--decoder", dest="decoder", default="zxing", metavar="NAME",
                   help="decoder backend (default zxing)")
    p.add_argument("--width", type=int, default=1280, help="camera width (default 1280)")
    p.add_argument("--height", type=int, default=720, help="camera height (default 720)")
    p.add_argument("--fps", type=float, default=30.0, help="camera frame rate (default 30)")
    p.add_argument("--window", type=float, default=3.0, metavar="S",
                   help="de-duplication window in seconds (default 3)")
    p.add_argument("--count", type=int, default=0, metavar="N",
                   help="stop after N codes (default: run until Ctrl-C)")
    p.add_argument("--json", action="store_true",
                   help='one JSON object per read: {"source", "payload", "t"}')
    p.set_defaults(func=run)


def _config(args: argparse.Namespace) -> SourceConfig:
    if args.camera_backend is not None and not args.camera:
        raise ConfigError(f"--camera-backend {args.camera_backend}: only with --camera "
                          "(a serial or keyboard reader has no camera backend)")
    if args.keyboard:
        return KeyboardSourceConfig(device=args.keyboard)
    if args.serial:
        return SerialSourceConfig(port=args.serial, baud=args.baud, parity=args.parity,
                                  suffix=args.suffix)
    device = str(args.camera)
    backend = args.camera_backend or "opencv"
    if device.startswith("sim:"):
        if backend != "sim" and args.camera_backend is not None:
            raise ConfigError(f"--camera {device} is the simulated camera; it cannot use "
                              f"--camera-backend {args.camera_backend} (drop that option)")
        backend, device = "sim", device[4:]
        if not device:
            raise ConfigError("--camera sim: needs a spec, e.g. sim:scenes")
    return CameraSourceConfig(backend=backend, device=device, width=args.width,
                              height=args.height, fps=args.fps, decoder=args.decoder)


def _line(scan_source: str, payload: bytes, t: float, as_json: bool) -> str:
    text = payload.decode("utf-8", errors="replace")
    if as_json:
        return json.dumps({"source": scan_source, "payload": text, "t": round(t, 3)},
                          ensure_ascii=False)
    stamp = dt.datetime.fromtimestamp(t).strftime("%H:%M:%S.%f")[:-3]
    return f"{stamp} {scan_source} {text}"


async def _watch(source: Any, stop: asyncio.Event) -> None:
    """Report connected/lost changes on standard error."""
    was: bool | None = None
    while not stop.is_set():
        st = source.status()
        # reading = open and in sync (just after an open, a reader's first bytes are taken
        # for the tail of a cut code and dropped: docs/scan-inputs.md)
        now = bool(st.get("connected")) and bool(st.get("in_sync", True))
        if now != was:
            if now:
                print(f"scangate scan: {source.name} reading", file=sys.stderr)
            elif was is None:
                print(f"scangate scan: waiting for {source.name}...", file=sys.stderr)
            else:
                why = st.get("last_error") or "no data"
                print(f"scangate scan: {source.name} lost ({why}); reopening", file=sys.stderr)
            was = now
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.25)


async def _scan(args: argparse.Namespace) -> int:
    source = build_source(_config(args))
    dedupe = Deduper(window_s=args.window)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    printed = 0

    async def consume() -> None:
        nonlocal printed
        agen = source.scans()
        try:
            async for scan in agen:
                if not dedupe.admit(scan):
                    continue
                print(_line(scan.source, scan.payload, scan.t_wall, args.json), flush=True)
                printed += 1
                if args.count and printed >= args.count:
                    stop.set()
                    return
        finally:
            await agen.aclose()  # type: ignore[attr-defined]

    watcher = asyncio.create_task(_watch(source, stop))
    reader = asyncio.create_task(consume())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.set()
        await source.close()
        for t in (reader, watcher, stopper):
            t.cancel()
        for t in (reader, watcher, stopper):
            with contextlib.suppress(asyncio.CancelledError):
                await t
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    if reader.done() and not reader.cancelled() and reader.exception() is not None:
        raise reader.exception()  # type: ignore[misc]
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if args.count < 0:
        raise ConfigError("--count must be >= 0")
    return asyncio.run(_scan(args))
