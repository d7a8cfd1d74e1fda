"""Resident memory of the daemon with a camera source at 720p and 30 fps (simulated).

Starts a real ``scangate run`` subprocess on simulated hardware (MockFactory pins, the
sim camera playing generated 720p scenes of phones with codes at 30 fps through the
real capture thread and zxing-cpp decoder), samples VmRSS/VmHWM from /proc, and compares
with a baseline measured in the same run: the same daemon with only a serial reader.
Goal: at most 150 MB resident with the camera.

    python bench/memory.py            # ~1 min
    python bench/memory.py --quick    # ~25 s
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from device.verify.trustlist import TrustStore, load_root_key
from sim.keys import make_demo_keys
from sim.serial_pty import SimSerialReader

SCANGATE = str(Path(sys.executable).with_name("scangate"))


def proc_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def measure(tmp: Path, sources: str, seconds: float) -> dict[str, float]:
    keys = make_demo_keys(tmp / "keys")
    (tmp / "state").mkdir(mode=0o700)
    TrustStore(tmp / "state" / "trust-list.cose", load_root_key(keys.root_public)).install(
        keys.trust_list.read_bytes())
    (tmp / "t.toml").write_text(f"""terminal_id = "bench-mem"
state_dir = "state"
{sources}
[gate]
pin_factory = "mock"
[trust]
root_key = "keys/root.pub.pem"
trust_list = "state/trust-list.cose"
[screen]
port = 0
""")
    proc = subprocess.Popen([SCANGATE, "run", "--config", str(tmp / "t.toml")],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        url = ready["screen"]
        samples: list[int] = []
        t_end = time.monotonic() + seconds
        fps = frames = 0.0
        while time.monotonic() < t_end:
            time.sleep(0.5)
            samples.append(proc_kb(proc.pid, "VmRSS"))
            st = httpx.get(url + "api/status", timeout=5).json()
            cams = [s for s in st["sources"] if s["kind"] == "camera"]
            if cams:
                fps, frames = cams[0].get("fps") or 0.0, cams[0].get("frames") or 0
        hwm = proc_kb(proc.pid, "VmHWM")
        decided = st["decided"]
        steady = samples[len(samples) // 2:]
        return {"rss_mb": samples[-1] / 1024, "steady_max_mb": max(steady) / 1024,
                "hwm_mb": hwm / 1024, "fps": fps, "frames": frames, "decided": decided}
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="a short run")
    args = ap.parse_args()
    seconds = 10.0 if args.quick else 30.0
    with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
        reader = SimSerialReader(link_path=Path(a) / "tty")
        try:
            base = measure(Path(a), f'[[sources]]\ntype = "serial"\nport = "{reader.path}"\n',
                           min(seconds, 10.0))
        finally:
            reader.close()
        cam = measure(Path(b), '[[sources]]\ntype = "camera"\nbackend = "sim"\n'
                      'device = "scenes"\nwidth = 1280\nheight = 720\nfps = 30\n', seconds)
    print(f"baseline (serial reader only): RSS {base['rss_mb']:.1f} MB, "
          f"peak {base['hwm_mb']:.1f} MB")
    print(f"camera 1280x720 @ {cam['fps']:.1f} fps ({cam['frames']:.0f} frames, "
          f"{cam['decided']} decisions): RSS {cam['rss_mb']:.1f} MB, steady max "
          f"{cam['steady_max_mb']:.1f} MB, peak (VmHWM) {cam['hwm_mb']:.1f} MB")
    print(f"camera / baseline: {cam['hwm_mb'] / base['hwm_mb']:.2f}x; goal peak <= 150 MB: "
          f"{'MET' if cam['hwm_mb'] <= 150 else 'NOT MET'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
