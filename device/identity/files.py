"""Small file primitives for the identity: atomic writes with a given mode, directory fsync,
ownership of files a root technician writes for the service user, and wiping.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` atomically (tmp + fsync + rename); the tmp file is created
    with ``mode`` already, so a private key is never readable by others, not even briefly."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have taken bits away; never added any
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def make_private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(path, 0o700)


def owner_like(path: Path, reference: Path) -> None:
    """When run as root (a technician with sudo), give ``path`` to the owner of
    ``reference`` (the service user's state directory), so the daemon can read it."""
    if os.geteuid() != 0:
        return
    try:
        st = reference.stat()
    except OSError:
        return
    if st.st_uid == 0:
        return
    with contextlib.suppress(OSError):
        os.chown(path, st.st_uid, st.st_gid, follow_symlinks=False)


def wipe_file(path: Path) -> None:
    """Overwrite a file with random bytes, fsync, unlink (best effort against casual
    recovery; flash wear levelling may keep old blocks: the key is also revoked)."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    try:
        with open(path, "r+b", buffering=0) as f:
            f.write(secrets.token_bytes(max(size, 1)))
            os.fsync(f.fileno())
    except OSError:
        pass
    path.unlink(missing_ok=True)
