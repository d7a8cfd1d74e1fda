"""Sequence numbers that stay monotonic even if the journal file is lost.

Before the journal hands out a seq beyond the reserved mark, the mark is moved
``STEP`` ahead in a small side file (written atomically: tmp + fsync + rename). After a
corrupt journal is replaced, numbering resumes above the mark, so the centre never sees
a seq twice for one terminal (a gap of at most ``STEP`` marks the recovery). Cost: one
small file write per ``STEP`` records.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from device.files import fsync_dir

log = logging.getLogger(__name__)

STEP = 1024


class SeqReservation:
    def __init__(self, path: Path, *, step: int = STEP) -> None:
        self._path = path
        self._step = step
        self._reserved: dict[str, int] = {}
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                self._reserved = {str(k): int(v) for k, v in data.items()}
        except FileNotFoundError:
            pass
        except (OSError, ValueError, TypeError) as exc:
            log.warning(
                "seq reservation file %s unreadable (%s); starting from the journal", path, exc
            )

    def reserved(self, terminal_id: str) -> int:
        """Every seq this terminal may have used is <= this value."""
        return self._reserved.get(terminal_id, 0)

    def ensure(self, terminal_id: str, seq: int) -> None:
        """Make sure ``seq`` is covered by the reservation before it is used."""
        if seq <= self._reserved.get(terminal_id, 0):
            return
        self._reserved[terminal_id] = seq + self._step
        tmp = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(self._reserved, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        fsync_dir(self._path.parent)
