"""Small file primitives for the identity: ownership of files a root technician writes for
the service user, and wiping (atomic writes and directory fsync: ``device.files``).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


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
