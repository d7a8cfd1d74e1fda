"""Frame-to-payload latency through the live camera path, on the simulated camera.

The real path: ``CameraSource`` (capture thread, the live decoder: zxing-cpp with
hint-gated, budgeted fallbacks, hand-off to the event loop) fed by
``SimCamera`` playing pre-rendered scenes (people holding up phones in every distortion
class of ``sim.scenes``, empty frames of a cluttered hall between them) at 30 fps.
The same frames go, in the same run, through the same path with the zxing backend
alone (``fallbacks = false``: QR only, full resolution, light-on-dark): the baseline.
Printed for 640x480 and 1280x720, p50 / p99:

- per read: from the moment the camera handed out a frame to the moment the consumer
  on the event loop holds the payload decoded from it;
- first read: from the first frame showing a person's code to its first payload (adds
  the frames a hard scene needs before it is read);
- decode time per frame on the capture thread (p50 / p99), and the camera's frame rate.

    python bench/camera_latency.py           # ~1 min
    python bench/camera_latency.py --quick   # ~15 s
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import random
import sys
import time
from dataclasses import replace

from device.decode import Decoder, live_decoder, load_decoder
from device.decode.base import Frame
from device.sources.camera import CameraSource
from sim.camera import SimCamera, SimCameraControl
from sim.scenes import CLASSES, SceneSpec, random_spec, render_scene

FPS = 30.0
HOLD, GAP, VARIANTS = 15, 8, 3


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))] if s else float("nan")


def frames_for(size: tuple[int, int], people: int, seed: int) -> list[tuple[Frame, str | None]]:
    rng = random.Random(seed)
    out: list[tuple[Frame, str | None]] = []
    empty = render_scene(SceneSpec(payload=None, size=size, phone=False, busy=True,
                                   seed=seed))
    for i in range(people):
        payload = f"HC1:LATENCY-{seed}-{i:04d}-" + "X" * rng.randint(40, 300)
        klass = CLASSES[i % len(CLASSES)]
        base = random_spec(rng, klass=klass, payload=payload, size=size,
                           module_px=rng.uniform(2.0, 6.0))
        variants = [render_scene(replace(base, rotate_deg=base.rotate_deg + rng.uniform(-1, 1),
                                         seed=base.seed + k)) for k in range(VARIANTS)]
        out += [(variants[k % VARIANTS], payload) for k in range(HOLD)]
        out += [(empty, None)] * GAP
    return out


async def run_once(frames: list[tuple[Frame, str | None]], decoder: Decoder
                   ) -> dict[str, list[float]]:
    control = SimCameraControl()
    cams: list[SimCamera] = []

    def factory() -> SimCamera:
        cam = SimCamera(device="bench", fps=FPS, frames=frames, control=control, loop=False)
        cams.append(cam)
        return cam

    source = CameraSource(factory, decoder, name="bench-cam", stall_timeout_s=5.0)
    decode_ms: list[float] = []
    measured = source._decoder  # time every decode on the capture thread

    class Timed:
        name = measured.name

        def decode(self, frame: Frame) -> list[bytes]:
            t = time.perf_counter()
            try:
                return measured.decode(frame)
            finally:
                decode_ms.append((time.perf_counter() - t) * 1000)

    source._decoder = Timed()
    received: list[tuple[float, bytes]] = []

    async def consume() -> None:
        agen = source.scans()
        try:
            async for scan in agen:
                received.append((time.monotonic(), scan.payload))
        finally:
            await agen.aclose()  # type: ignore[attr-defined]

    task = asyncio.create_task(consume())
    while not cams or len(cams[0].frame_log) < len(frames):
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    await source.close()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    log = list(cams[0].frame_log)
    times = [t for t, _ in log]
    per_read: list[float] = []
    first_seen: dict[str, float] = {}
    for t, label in log:
        if label is not None:
            first_seen.setdefault(label, t)
    first_read: dict[str, float] = {}
    for r, payload in received:
        label = payload.decode()
        # the frame it came from: the latest frame with that label handed out before r
        i = bisect.bisect_right(times, r) - 1
        while i >= 0 and log[i][1] != label:
            i -= 1
        if i >= 0:
            per_read.append((r - log[i][0]) * 1000)
        first_read.setdefault(label, (r - first_seen[label]) * 1000)
    st = source.status()
    return {
        "per_read": per_read,
        "first_read": list(first_read.values()),
        "people": [float(len(first_seen))],
        "fps": [float(len(log)) / (log[-1][0] - log[0][0])],
        "decode_ms_median": [float(st["decode_ms_median"] or 0.0)],
        "decode_ms": decode_ms,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few people only (seconds)")
    ap.add_argument("--people", type=int, default=None, help="people per resolution")
    args = ap.parse_args()
    people = args.people or (11 if args.quick else 33)
    t0 = time.perf_counter()
    print(f"simulated camera at {FPS:g} fps; {people} people per resolution, each holding "
          f"a phone for {HOLD} frames, {GAP} empty frames between them")
    for size in ((640, 480), (1280, 720)):
        frames = frames_for(size, people, seed=size[0])
        name = f"{size[0]}x{size[1]}"
        runs = {"no fallbacks": asyncio.run(run_once(frames, load_decoder("zxing"))),
                "scangate live": asyncio.run(run_once(frames, live_decoder("zxing")))}
        print(f"{name}:")
        for label, r in runs.items():
            dm = r["decode_ms"]
            print(f"  {label:<16} read {len(r['first_read']):>3}/{people} people at "
                  f"{r['fps'][0]:4.1f} fps | frame -> payload p50 {pct(r['per_read'], 50):6.2f}"
                  f" p99 {pct(r['per_read'], 99):6.2f} ms | first frame -> first read p50 "
                  f"{pct(r['first_read'], 50):6.2f} p99 {pct(r['first_read'], 99):7.2f} ms | "
                  f"decode p50 {pct(dm, 50):5.2f} p99 {pct(dm, 99):6.2f} ms")
        base, ours = runs["no fallbacks"], runs["scangate live"]
        print(f"  scangate / no fallbacks: frame -> payload p50 "
              f"{pct(ours['per_read'], 50) / pct(base['per_read'], 50):.2f}x, p99 "
              f"{pct(ours['per_read'], 99) / pct(base['per_read'], 99):.2f}x; decode p50 "
              f"{pct(ours['decode_ms'], 50) / pct(base['decode_ms'], 50):.2f}x, p99 "
              f"{pct(ours['decode_ms'], 99) / pct(base['decode_ms'], 99):.2f}x "
              f"(frame period {1000 / FPS:.1f} ms)")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
