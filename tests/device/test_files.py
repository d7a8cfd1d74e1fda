"""device.files: the one atomic write used by the trust list, the identity and retire."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from device.files import atomic_write


def test_the_file_gets_exactly_its_mode_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o077)
    try:
        atomic_write(tmp_path / "public.pem", b"x")  # default 0o644: the umask takes nothing
    finally:
        os.umask(old)
    atomic_write(tmp_path / "key.pem", b"secret", mode=0o600)
    assert stat.S_IMODE((tmp_path / "public.pem").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "key.pem").stat().st_mode) == 0o600
    assert (tmp_path / "key.pem").read_bytes() == b"secret"


def test_a_failed_write_leaves_the_old_file_and_no_tmp(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "trust-list.cbor"
    atomic_write(target, b"old")

    def fail(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError, match="No space"):
        atomic_write(target, b"new" * 1000)
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trust-list.cbor"]


def test_writers_in_threads_never_share_a_tmp_file(tmp_path: Path) -> None:
    target = tmp_path / "state"
    errors: list[BaseException] = []
    payloads = [bytes([i]) * 4096 for i in range(8)]

    def write(data: bytes) -> None:
        try:
            for _ in range(20):
                atomic_write(target, data)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(p,)) for p in payloads]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert target.read_bytes() in payloads  # one whole write, never a mix
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]
