"""Frame-to-payload latency through the camera source, on the simulated camera.

The real path: ``CameraSource`` (capture thread, zxing-cpp with the preprocessing
rotation, hand-off to the event loop) fed by ``SimCamera`` playing pre-rendered scenes
(people holding up phones, empty frames between them) at 30 fps. Printed for 640x480
and 1280x720, p50 / p99:

- per read: from the moment the camera handed out a frame to the moment the consumer
  on the event loop holds the payload decoded from it;
- first read: from the first frame showing a person's code to its first payload (adds
  the frames a hard scene needs before the rotation reads it);
- and, as the baseline measured in the same run, the bare decode time per frame
  (plain zxing-cpp on the same frames), with the ratio.

    python bench/camera_latency.py           # ~30 s
    python bench/camera_latency.py --quick   # a few seconds
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import random
import statistics
import sys
import time
from dataclasses import replace

from device.decode import load_decoder, rotating_decoder
from device.decode.base import Frame
from device.sources.camera import CameraSource
from sim.camera import SimCamera, SimCameraControl
from sim.scenes import SceneSpec, random_spec, render_scene

FPS = 30.0
HOLD, GAP, VARIANTS = 15, 8, 3


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q / 100 * (len(s) - 1)))] if s else float("nan")


def frames_for(size: tuple[int, int], people: int, seed: int) -> list[tuple[Frame, str | None]]:
    rng = random.Random(seed)
    out: list[tuple[Frame, str | None]] = []
    empty = render_scene(SceneSpec(payload=None, size=size, phone=False, seed=seed))
    for i in range(people):
        payload = f"HC1:LATENCY-{seed}-{i:04d}-" + "X" * rng.randint(20, 80)
        klass = rng.choice(("clean", "tilt", "blur", "glare", "dark"))
        base = random_spec(rng, klass=klass, payload=payload, size=size,
                           module_px=rng.uniform(3.0, 7.0))
        variants = [render_scene(replace(base, rotate_deg=base.rotate_deg + rng.uniform(-1, 1),
                                         seed=base.seed + k)) for k in range(VARIANTS)]
        out += [(variants[k % VARIANTS], payload) for k in range(HOLD)]
        out += [(empty, None)] * GAP
    return out


async def run_once(frames: list[tuple[Frame, str | None]]) -> dict[str, list[float]]:
    control = SimCameraControl()
    cams: list[SimCamera] = []

    def factory() -> SimCamera:
        cam = SimCamera(device="bench", fps=FPS, frames=frames, control=control, loop=False)
        cams.append(cam)
        return cam

    source = CameraSource(factory, rotating_decoder("zxing"), name="bench-cam",
                          stall_timeout_s=5.0)
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
    }


def bare_decode_ms(frames: list[tuple[Frame, str | None]]) -> list[float]:
    dec = load_decoder("zxing")
    out = []
    for f, _ in frames[: 3 * (HOLD + GAP)]:
        t = time.perf_counter()
        dec.decode(f)
        out.append((time.perf_counter() - t) * 1000)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a few people only (seconds)")
    ap.add_argument("--people", type=int, default=None, help="people per resolution")
    args = ap.parse_args()
    people = args.people or (4 if args.quick else 24)
    t0 = time.perf_counter()
    print(f"simulated camera at {FPS:g} fps; {people} people per resolution, each holding "
          f"a phone for {HOLD} frames, {GAP} empty frames between them")
    for size in ((640, 480), (1280, 720)):
        frames = frames_for(size, people, seed=size[0])
        r = asyncio.run(run_once(frames))
        bare = bare_decode_ms(frames)
        name = f"{size[0]}x{size[1]}"
        read_people = len(r["first_read"])
        print(f"{name}: read {read_people}/{people} people, camera {r['fps'][0]:.1f} fps, "
              f"decode median {r['decode_ms_median'][0]:.2f} ms")
        print(f"  frame -> payload per read:  p50 {pct(r['per_read'], 50):6.2f} ms   "
              f"p99 {pct(r['per_read'], 99):6.2f} ms   ({len(r['per_read'])} reads)")
        print(f"  first frame -> first read:  p50 {pct(r['first_read'], 50):6.2f} ms   "
              f"p99 {pct(r['first_read'], 99):6.2f} ms")
        base = statistics.median(bare)
        print(f"  baseline bare zxing decode: p50 {base:6.2f} ms   -> per-read p50 is "
              f"{pct(r['per_read'], 50) / base:.1f}x the bare decode "
              f"(frame period {1000 / FPS:.1f} ms)")
    print(f"total {time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
