"""A fleet run killed with kill -9 leaves its tmpfs journals behind; the next run removes
them (memory held until a reboot otherwise), and never a directory of a live run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sim.fleet.terminals import SCRATCH_PREFIX, scratch_dir, sweep_scratch


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_directories_of_gone_processes_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f"{SCRATCH_PREFIX}{_dead_pid()}-abc123"
    (dead / "journals").mkdir(parents=True)
    (dead / "journals" / "t1.db").write_bytes(b"x" * 1000)
    live = tmp_path / f"{SCRATCH_PREFIX}{os.getpid()}-def456"
    live.mkdir()
    foreign = tmp_path / f"{SCRATCH_PREFIX}oldstyle"  # not named with a pid: not ours to judge
    foreign.mkdir()
    other = tmp_path / "unrelated-123-x"
    other.mkdir()

    assert sweep_scratch(tmp_path) == [dead]
    assert not dead.exists()
    assert live.is_dir() and foreign.is_dir() and other.is_dir()


def test_a_new_scratch_dir_is_named_by_this_process() -> None:
    path = scratch_dir()
    try:
        assert path.name.startswith(f"{SCRATCH_PREFIX}{os.getpid()}-")
        assert path.is_dir()
        assert path not in sweep_scratch(path.parent)  # this process runs: kept
        assert path.is_dir()
    finally:
        path.rmdir()
