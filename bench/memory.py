"""Resident memory of the real daemon process: serial reader only, and with a 720p camera.

Each case starts ``scangate run`` as a subprocess exactly as ``scangate sim run`` does
(``sim.terminal.SimSite``: demo keys and trust list, the stand-in central engine over
HTTP on 127.0.0.1 with the uplink talking to it, MockFactory gate pins, the staff
screen), and measures **that process only** (the centre, the simulated reader and this
script run in other processes/threads and are not counted):

- ``idle``: VmRSS (``/proc/<pid>/status``: the resident pages of the process: its
  Python heap plus every shared library page it has touched, counted in full) sampled
  every 0.25 s after the daemon is ready and its sources connected, while nothing
  is scanned; the median of the samples;
- ``busy``: the same while codes arrive (serial: a valid code every 0.2 s on the pty;
  camera: 1280x720 frames at 30 fps from an MJPEG video of phones with codes and empty
  hall frames, through the real capture thread and decoder);
- ``peak``: VmHWM, the highest VmRSS the process ever had (startup included);
- ``pss``: Pss from ``/proc/<pid>/smaps_rollup`` at the end (shared pages divided
  among the processes mapping them: what the process costs a machine running it).

Also printed: whether the serial-only daemon imported numpy, cv2 or zxingcpp (it must
not: ``device.journal`` loads sqlite-utils without numpy, and the decoder is imported
only by a camera source).

    python bench/memory.py            # ~1 min
    python bench/memory.py --quick    # ~30 s
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import httpx

from sim.scenes import SceneSpec, random_spec, render_scene
from sim.terminal import SimSite

GOALS_MB = {"serial": 100.0, "camera": 150.0}


def proc_kb(pid: int, field: str, path: str = "status") -> int:
    for line in Path(f"/proc/{pid}/{path}").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def write_video(path: Path, seconds: float = 4.0) -> None:
    """An MJPEG clip of 1280x720 frames: phones with codes in several classes, and the
    empty hall between them (what a USB camera delivers over V4L2)."""
    import random

    rng = random.Random(11)
    w = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 30, (1280, 720))
    if not w.isOpened():
        raise SystemExit("this OpenCV cannot write MJPEG video")
    empty = render_scene(SceneSpec(payload=None, size=(1280, 720), phone=False, busy=True))
    frames = 0
    for i in range(int(seconds)):
        spec = random_spec(rng, klass=("clean", "tilt", "blur", "glare")[i % 4],
                           payload=f"HC1:MEMORY-BENCH-{i:03d}-" + "X" * 200, size=(1280, 720),
                           module_px=3.5)
        frame = render_scene(spec)
        for _ in range(15):
            w.write(frame)
            frames += 1
        for _ in range(15):
            w.write(empty)
            frames += 1
    w.release()


def measure(kind: str, run_dir: Path, video: Path | None, seconds: float) -> dict[str, object]:
    site = SimSite(run_dir, port=0, central=True, serial=True, camera=False)
    config = site.prepare()
    if video is not None:  # SimSite's camera is 640x480 at 10 fps: the 720p clip instead
        camera = (f'[[sources]]\ntype = "camera"\nbackend = "sim"\ndevice = "{video}"\n'
                  "width = 1280\nheight = 720\nfps = 30\n\n[dedupe]")
        config.write_text(config.read_text().replace("[dedupe]", camera, 1))
    stop = threading.Event()
    try:
        ready = site.start_daemon(timeout_s=60)
        assert site.proc is not None
        pid = site.proc.pid
        url = ready["screen"]
        time.sleep(1.0)  # let start-up garbage settle

        def sample(duration: float) -> list[int]:
            out, end = [], time.monotonic() + duration
            while time.monotonic() < end:
                out.append(proc_kb(pid, "VmRSS"))
                time.sleep(0.25)
            return out

        idle = sample(seconds / 2) if kind == "serial" else []
        if kind == "serial":
            assert site.keys is not None
            issuer = site.keys.issuer()

            def feed() -> None:
                n = 0
                while not stop.is_set():
                    site.reader.send(issuer.mint(code_id=f"{n:032x}"))
                    n += 1
                    stop.wait(0.2)

            threading.Thread(target=feed, daemon=True).start()
        busy = sample(seconds / 2)
        st = httpx.get(url + "api/status", timeout=5).json()
        maps = Path(f"/proc/{pid}/maps").read_text()
        loaded = sorted({m for m in ("numpy", "cv2", "zxingcpp") for line in maps.splitlines()
                         if f"/site-packages/{m}" in line})
        cams = [s for s in st["sources"] if s["kind"] == "camera"]
        return {
            "idle_mb": statistics.median(idle) / 1024 if idle else None,
            "busy_mb": statistics.median(busy) / 1024,
            "peak_mb": proc_kb(pid, "VmHWM") / 1024,
            "pss_mb": proc_kb(pid, "Pss", "smaps_rollup") / 1024,
            "decided": st["decided"],
            "fps": cams[0].get("fps") if cams else None,
            "frames": cams[0].get("frames") if cams else None,
            "native": loaded,
        }
    finally:
        stop.set()
        site.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run")
    args = ap.parse_args()
    seconds = 10.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "hall.avi"
        write_video(video)
        serial = measure("serial", Path(tmp) / "serial", None, seconds)
        camera = measure("camera", Path(tmp) / "camera", video, seconds)
    print("the daemon process (scangate run, as `scangate sim run` starts it: central uplink, "
          "staff screen, MockFactory pins), MB:")
    print(f"  serial reader only : idle RSS {serial['idle_mb']:.1f}, busy RSS "
          f"{serial['busy_mb']:.1f} ({serial['decided']} decisions), peak (VmHWM) "
          f"{serial['peak_mb']:.1f}, PSS {serial['pss_mb']:.1f}; native libraries mapped: "
          f"{', '.join(serial['native']) or 'none of numpy, cv2, zxingcpp'}")  # type: ignore[arg-type]
    print(f"  + camera 1280x720  : busy RSS {camera['busy_mb']:.1f} at {camera['fps']} fps "
          f"({camera['frames']} frames, {camera['decided']} decisions), peak (VmHWM) "
          f"{camera['peak_mb']:.1f}, PSS {camera['pss_mb']:.1f}")
    s_worst = max(serial["idle_mb"], serial["busy_mb"], serial["peak_mb"])  # type: ignore[type-var]
    c_worst = max(camera["busy_mb"], camera["peak_mb"])  # type: ignore[type-var]
    print(f"camera / serial (peak): {c_worst / s_worst:.2f}x")  # type: ignore[operator]
    print(f"goal: serial-only daemon <= {GOALS_MB['serial']:.0f} MB (worst of idle, busy, "
          f"peak): {s_worst:.1f} MB {'MET' if s_worst <= GOALS_MB['serial'] else 'NOT MET'}")
    print(f"goal: 720p camera daemon <= {GOALS_MB['camera']:.0f} MB (worst of busy, peak): "
          f"{c_worst:.1f} MB {'MET' if c_worst <= GOALS_MB['camera'] else 'NOT MET'}")
    print(f"goal: no numpy/cv2/zxingcpp in the serial-only daemon: "
          f"{'MET' if not serial['native'] else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
