"""Camera checks: frames per second measured, and a QR code (the test card) decoded.

Frames are read by a worker thread, so a driver that hangs inside ``read()`` gives a
FAIL line instead of a hung self-test. While the daemon runs, the camera is its: the
frame rate it measures is reported and the test card is not tried.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

from device.sources.config import CameraSourceConfig
from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, fail, passed, skip, warn
from provisioning.selftest.testcard import is_test_card

STOP_DAEMON = "Stop the daemon (sudo systemctl stop scangate) and re-run the self-test"
CHECK_CAMERA = ("Check that the camera is connected (ribbon cable seated, or USB plugged "
                "in), that the configured device is the right one (ls /dev/video*) and that "
                "no other program uses it, then re-run the self-test.")
#: Extra seconds the worker may overrun before the driver counts as hung.
HANG_GRACE_S = 5.0


def _frames(n: int) -> str:
    return f"{n} frame" if n == 1 else f"{n} frames"


def _names(cfg: CameraSourceConfig, several: bool) -> tuple[str, str]:
    suffix = f" [{cfg.source_name}]" if several else ""
    return f"camera frames{suffix}", f"camera test card{suffix}"


def check_cameras(ctx: Context) -> Iterator[CheckResult]:
    cams = [(i, s.config) for i, s in enumerate(ctx.config.sources) if s.kind == "camera"]
    if not cams:
        yield skip("camera", "no camera configured",
                   "Nothing to do; if this gate has a camera, add a [[sources]] table with "
                   "type = \"camera\" to the configuration.")
        return
    for index, cfg in cams:
        frames_name, card_name = _names(cfg, len(cams) > 1)
        if ctx.daemon is not None:
            yield from _from_daemon(ctx, cfg, frames_name, card_name)
        else:
            yield from _measure(ctx, index, cfg, frames_name, card_name)


def _from_daemon(ctx: Context, cfg: CameraSourceConfig, frames_name: str,
                 card_name: str) -> Iterator[CheckResult]:
    daemon = ctx.daemon
    assert daemon is not None
    st = daemon.source(cfg.source_name)
    if st is None:
        yield skip(frames_name, f"{cfg.source_name} is in use by the running daemon "
                   f"({daemon.via}), which does not report its frame rate here",
                   f"{STOP_DAEMON} to measure the camera, or turn on its staff screen.")
    elif not st.get("connected"):
        yield fail(frames_name, f"the running daemon reports {cfg.source_name} without frames "
                   f"(reopened {st.get('reopens', '?')} times)", CHECK_CAMERA)
    else:
        fps = st.get("fps")
        shown = f"{fps:.1f}" if isinstance(fps, int | float) else "?"
        yield passed(frames_name, f"{shown} frames/s from {cfg.source_name}, measured by the "
                     f"running daemon (configured {cfg.fps:g})")
    yield skip(card_name, f"not tried: {cfg.source_name} is in use by the running daemon",
               f"{STOP_DAEMON} to decode the test card.")


def _worker(cfg: CameraSourceConfig, opts: Any, out: queue.Queue[tuple[str, Any]]) -> None:
    """open → count frames for ``camera_measure_s`` → decode until a code or the timeout."""
    from device.sources.camera import camera_decoder
    from device.sources.camera_registry import load_camera_class

    cam: Any = None
    try:
        try:
            cls = load_camera_class(cfg.backend)
            decoder = camera_decoder(cfg)
        except Exception as exc:
            out.put(("backend", exc))
            return
        try:
            cam = cls(device=cfg.device, width=cfg.width, height=cfg.height, fps=cfg.fps)
            cam.open()
        except Exception as exc:
            out.put(("open", exc))
            return
        frames, first, last = 0, None, None
        end = time.monotonic() + opts.camera_measure_s
        try:
            while time.monotonic() < end:
                frame = cam.read()
                if frame is not None:
                    t = time.monotonic()
                    first = t if first is None else first
                    last = t
                    frames += 1
        except Exception as exc:
            out.put(("read", (frames, exc)))
            return
        fps = (frames - 1) / (last - first) if first is not None and last is not None and \
            last > first else float(frames)
        out.put(("frames", (frames, fps)))
        if frames == 0:
            return
        t0 = time.monotonic()
        tried = 0
        try:
            while time.monotonic() - t0 < opts.camera_timeout_s:
                frame = cam.read()
                if frame is None:
                    continue
                tried += 1
                payloads = decoder.decode(frame)
                if payloads:
                    out.put(("card", (any(is_test_card(p) for p in payloads),
                                      time.monotonic() - t0, tried, len(payloads))))
                    return
        except Exception as exc:
            out.put(("card-error", exc))
            return
        out.put(("card", (None, time.monotonic() - t0, tried, 0)))
    finally:
        if cam is not None:
            with contextlib.suppress(Exception):  # a broken camera must not hide the result
                cam.close()


def _measure(ctx: Context, index: int, cfg: CameraSourceConfig, frames_name: str,
             card_name: str) -> Iterator[CheckResult]:
    opts = ctx.options
    ctx.prompt(f"Hold the test card in front of {cfg.source_name} now "
               f"(it is decoded for up to {opts.camera_timeout_s:g} s after "
               f"{opts.camera_measure_s:g} s of counting frames).")
    out: queue.Queue[tuple[str, Any]] = queue.Queue()
    thread = threading.Thread(target=_worker, args=(cfg, opts, out), daemon=True,
                              name=f"selftest-{cfg.source_name}")
    thread.start()
    key = f"sources[{index}]"

    def get(timeout: float) -> tuple[str, Any] | None:
        try:
            return out.get(timeout=timeout)
        except queue.Empty:
            return None

    got = get(opts.camera_measure_s + HANG_GRACE_S + 10.0)  # + time to open the device
    if got is None:
        yield fail(frames_name, f"{cfg.source_name} hung: the driver did not return a frame "
                   f"in {opts.camera_measure_s + HANG_GRACE_S + 10:g} s", CHECK_CAMERA)
        yield skip(card_name, "not tried: the camera hung", "Fix the camera line above first.")
        return
    kind, value = got
    if kind == "backend":
        yield fail(frames_name, f"camera backend {cfg.backend!r} or decoder {cfg.decoder!r} "
                   f"cannot load here: {value}",
                   f"Install what the message names, or set {key}.backend / {key}.decoder "
                   "to one that works on this device.")
        yield skip(card_name, "not tried: no camera", "Fix the camera line above first.")
        return
    if kind == "open":
        yield fail(frames_name, f"cannot open {cfg.source_name}: {value}", CHECK_CAMERA)
        yield skip(card_name, "not tried: no camera", "Fix the camera line above first.")
        return
    if kind == "read":
        frames, exc = value
        yield fail(frames_name, f"{cfg.source_name} failed after {frames} frames: {exc}",
                   CHECK_CAMERA)
        yield skip(card_name, "not tried: no frames", "Fix the camera line above first.")
        return
    frames, fps = value
    if frames == 0:
        yield fail(frames_name, f"no frame from {cfg.source_name} in "
                   f"{opts.camera_measure_s:g} s (it opened)", CHECK_CAMERA)
        yield skip(card_name, "not tried: no frames", "Fix the camera line above first.")
        return
    detail = (f"{fps:.1f} frames/s from {cfg.source_name} ({frames} frames in "
              f"{opts.camera_measure_s:g} s; configured {cfg.fps:g})")
    if fps < cfg.fps / 2:
        yield warn(frames_name, detail,
                   "Give the scene more light (a dark scene lengthens the exposure), put the "
                   f"camera on a USB port of its own, or lower {key}.width/height/fps.")
    else:
        yield passed(frames_name, detail)
    got = get(opts.camera_timeout_s + HANG_GRACE_S)
    if got is None:
        yield fail(card_name, f"{cfg.source_name} hung while decoding", CHECK_CAMERA)
        return
    kind, value = got
    if kind == "card-error":
        yield fail(card_name, f"reading frames failed while decoding: {value}", CHECK_CAMERA)
        return
    card, took, tried, _n = value
    if card is None:
        yield fail(card_name, f"no QR code decoded in {opts.camera_timeout_s:g} s "
                   f"({_frames(tried)} tried, decoder {cfg.decoder})",
                   "Hold the test card (scangate selftest --test-card card.png) 15-30 cm in "
                   "front of the lens, flat and well lit; if it still fails, clean the lens "
                   "and check the focus, then re-run.")
    elif card:
        yield passed(card_name, f"test card decoded after {took:.1f} s ({_frames(tried)}, "
                     f"decoder {cfg.decoder})")
    else:
        yield passed(card_name, f"a QR code decoded after {took:.1f} s ({_frames(tried)}, "
                     f"decoder {cfg.decoder}); not the test card, its content is not shown")
