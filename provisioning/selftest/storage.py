"""Disk space (free vs ``journal.min_free_mb`` and the journal's room to grow) and the
journal's integrity (SQLite on a read-only connection: nothing is created or changed).

``PRAGMA integrity_check`` when the daemon is not running; the lighter ``quick_check``
(the one the daemon runs at start) while it runs, so its read snapshot is short.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from provisioning.selftest.context import Context
from provisioning.selftest.result import CheckResult, duration, fail, mb, passed, skip, warn

AS_SERVICE_USER = ("Run the self-test as the service user (sudo -u scangate scangate selftest "
                   "--config FILE), then re-run.")
#: Records waiting longer than this make the journal line a WARN.
PENDING_WARN_S = 86400.0


def _existing_dir(p: Path) -> Path:
    p = p.parent
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _journal_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal"):
        with contextlib.suppress(OSError):
            total += os.stat(str(path) + suffix).st_size
    return total


def check_disk(ctx: Context) -> Iterator[CheckResult]:
    j = ctx.config.journal
    where = _existing_dir(j.path)
    try:
        usage = shutil.disk_usage(where)
    except OSError as exc:
        yield fail("disk space", f"cannot read the free space of {where}: {exc}",
                   "Check that the storage is mounted and healthy (dmesg for I/O errors), "
                   "then re-run the self-test.")
        return
    size = _journal_bytes(j.path)
    room = max(0, j.quota_bytes - size)
    detail = (f"{mb(usage.free)} free on {where} (journal {mb(size)} of its {mb(j.quota_bytes)} "
              f"quota; journal.min_free_mb {mb(j.min_free_bytes)})")
    free_up = (f"Free space on {where} (e.g. sudo journalctl --vacuum-size=50M, remove old "
               "files) or use a larger card")
    if usage.free < j.min_free_bytes:
        yield fail("disk space", detail + ": the journal stops storing decisions",
                   free_up + ", then re-run the self-test.")
    elif usage.free - room < j.min_free_bytes:
        yield warn("disk space", detail + f": the journal may still grow by {mb(room)} and "
                   "would then run short", free_up + ", or lower journal.quota_mb to fit.")
    else:
        yield passed("disk space", detail)


def check_journal(ctx: Context) -> Iterator[CheckResult]:
    path = ctx.config.journal.path
    if not path.exists():
        yield skip("journal", f"no journal yet at {path} (the daemon creates it at first start)")
        return
    running = ctx.daemon is not None
    pragma = "quick_check" if running else "integrity_check"
    try:
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as exc:
        yield _open_failure(path, exc)
        return
    try:
        found = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}(5)").fetchall()]
        if found != ["ok"]:
            yield fail("journal", f"{path} is damaged ({pragma}: {'; '.join(found[:3])})",
                       "Restart the daemon (sudo systemctl restart scangate): it moves the "
                       "damaged file aside, keeps every readable record still to upload and "
                       "starts a fresh journal; then re-run the self-test.")
            return
        records, pending, oldest = conn.execute(
            "SELECT (SELECT count(*) FROM records),"
            " (SELECT count(*) FROM records WHERE uploaded = 0 AND set_aside = 0),"
            " (SELECT min(t_wall) FROM records WHERE uploaded = 0 AND set_aside = 0)"
        ).fetchone()
    except sqlite3.Error as exc:
        yield _open_failure(path, exc)
        return
    finally:
        conn.close()
    mode = stat.S_IMODE(path.stat().st_mode)
    age = max(0.0, ctx.now() - float(oldest)) if oldest is not None else None
    waiting = f"{pending:,} waiting for upload" + (
        f" (oldest {duration(age)})" if age is not None else "")
    detail = f"{pragma} ok; {records:,} records, {waiting}; mode {mode:04o}"
    if mode & 0o077:
        yield warn("journal", detail + ": other users can read the decisions",
                   f"Run sudo chmod 600 {path} so only the service user reads it.")
    elif age is not None and age > PENDING_WARN_S:
        yield warn("journal", detail + ": the centre has not taken records for over a day",
                   "Check the centre lines of this self-test and the [uplink] settings; the "
                   "records stay on the terminal until the centre takes them.")
    else:
        yield passed("journal", detail)


def _open_failure(path: Path, exc: sqlite3.Error) -> CheckResult:
    text = str(exc)
    code = int(getattr(exc, "sqlite_errorcode", 0)) & 0xFF
    if code in (11, 26) or "malformed" in text or "not a database" in text:
        return fail("journal", f"{path} is damaged: {text}",
                    "Restart the daemon (sudo systemctl restart scangate): it moves the damaged "
                    "file aside, keeps every readable record still to upload and starts a "
                    "fresh journal; then re-run the self-test.")
    if "no such table" in text:
        return fail("journal", f"{path} is not a scangate journal: {text}",
                    "Check journal.path in the configuration points at the terminal's journal "
                    "(default /var/lib/scangate/journal.db), then re-run.")
    if code == 5 or "locked" in text:
        return warn("journal", f"{path} is busy (locked by another process): {text}",
                    "Re-run the self-test in a minute.")
    if not os.access(path, os.R_OK) or "unable to open" in text or "readonly" in text:
        return fail("journal", f"{path} cannot be read by this user: {text}", AS_SERVICE_USER)
    return fail("journal", f"{path} cannot be checked: {text}",
                "Check the storage for errors (dmesg) and the file's owner, then re-run.")
