"""Known-good time for a terminal without a battery clock (see docs/time.md).

The floor is a lower bound of the true time, persisted in a small JSON file (written
atomically: tmp + fsync + rename + directory fsync). It starts at ``BUILD_TIME`` (this
package cannot run before it was released) and is raised, never lowered, by:

- trusted sources: ``central-date`` (the Date of a verified TLS exchange with the centre),
  ``ntp``: current time, they also *anchor* the clock check below; ``trust-list``
  (the signed issue time of an installed list): a lower bound only;
- untrusted sources: ``record`` (the newest journal record; the journal raises it), any
  other name. An untrusted raise that is ahead of the anchored trusted time by more
  than ``tolerance_s`` is ignored, so a clock that jumped forward cannot poison the floor.

``now()`` returns ``max(wall clock, floor + monotonic time elapsed since the floor was
set or loaded)`` and its quality, decided in this order:

1. ``FLOOR``: the wall clock is behind the floor by more than ``tolerance_s`` and a
   trusted source has raised the floor at some point: the floor is used.
2. ``UNSURE``: the same, but no trusted source ever did (e.g. a fresh terminal whose
   clock says 1970 and that never reached the centre): the floor is only the build
   time or the newest record; used, but flagged.
3. ``SYNCED``: a sync source (``central-date``/``ntp``) answered within
   ``sync_max_age_s`` (monotonic; kept across daemon restarts within one boot) and the
   wall clock agrees with that answer, carried forward by the monotonic clock, within
   ``tolerance_s``.
4. ``UNSURE``: otherwise: the clock is not behind the floor, but nothing vouched for it
   recently, or it is ahead of trusted time (a forward jump).

Raises are written when a source is trusted for the first time, or when the floor moved
``persist_interval_s`` past the value on disk (the journal holds the exact newest record
time and raises the floor to it when it opens), so the decision path pays an extra fsync
at most once a minute.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from device.clock.clocks import Clock, SystemClock

log = logging.getLogger(__name__)

#: Release date of this package (2026-11-27T00:00:00Z): the true time is never earlier.
#: Bump it with every release (docs/time.md).
BUILD_TIME: float = 1_795_737_600.0

SYNC_SOURCES = frozenset({"central-date", "ntp"})
TRUSTED_SOURCES = SYNC_SOURCES | frozenset({"trust-list"})
FILE_VERSION = 1


class ClockQuality(StrEnum):
    SYNCED = "synced"  # the wall clock agrees with a trusted source heard recently
    FLOOR = "floor"  # the wall clock is behind known-good time: the floor is used
    UNSURE = "unsure"  # nothing vouches for the time (no trusted time yet, or stale)


@dataclass(frozen=True)
class TrustedTime:
    t: float
    quality: ClockQuality


def read_boot_id() -> str | None:
    """Linux's id of this boot: monotonic time is comparable only within one boot."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text(encoding="ascii").strip()
    except OSError:
        return None


class TimeFloor:
    def __init__(
        self,
        path: Path,
        *,
        clock: Clock | None = None,
        build_time: float = BUILD_TIME,
        tolerance_s: float = 5.0,
        sync_max_age_s: float = 6 * 3600.0,
        persist_interval_s: float = 60.0,
        boot_id: Callable[[], str | None] = read_boot_id,
    ) -> None:
        self._path = Path(path)
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._build_time = float(build_time)
        self._tolerance_s = tolerance_s
        self._sync_max_age_s = sync_max_age_s
        self._persist_interval_s = persist_interval_s
        self._boot_id = boot_id()
        self._lock = threading.Lock()
        # The floor: value, its source, and the monotonic time it was set or loaded at.
        self._floor_t = self._build_time
        self._floor_source = "build"
        self._floor_mono = self._clock.monotonic()
        self._trusted_ever = False
        self._trusted_t: float | None = None  # highest value a trusted source gave
        self._trusted_source: str | None = None
        self._sync: tuple[float, float] | None = None  # (t, monotonic) of the last sync
        self._sync_source: str | None = None
        self._persisted_t = float("-inf")
        self._load()

    # -- persistence -------------------------------------------------------------------

    def _load(self) -> None:
        try:
            data = json.loads(self._path.read_text(encoding="utf-8"))
            floor_t = float(data["floor_t"])
        except FileNotFoundError:
            return
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("time floor file %s unreadable (%s); starting from the build time",
                        self._path, exc)
            return
        if floor_t > self._floor_t:
            self._floor_t = floor_t
            self._floor_source = str(data.get("floor_source", "file"))
        self._persisted_t = floor_t
        self._trusted_ever = bool(data.get("trusted_ever", False))
        if data.get("trusted_t") is not None:
            self._trusted_t = float(data["trusted_t"])
            self._trusted_source = data.get("trusted_source")
        sync = data.get("sync")
        if sync and self._boot_id is not None and sync.get("boot_id") == self._boot_id:
            self._sync = (float(sync["t"]), float(sync["mono"]))
            self._sync_source = str(sync.get("source", "?"))

    def _save(self) -> None:
        data: dict[str, Any] = {
            "version": FILE_VERSION,
            "floor_t": self._floor_t,
            "floor_source": self._floor_source,
            "trusted_ever": self._trusted_ever,
            "trusted_t": self._trusted_t,
            "trusted_source": self._trusted_source,
            "sync": None if self._sync is None else {
                "t": self._sync[0], "mono": self._sync[1], "source": self._sync_source,
                "boot_id": self._boot_id,
            },
        }
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        tmp = self._path.with_name(self._path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, json.dumps(data, sort_keys=True).encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self._path)
        dfd = os.open(self._path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
        self._persisted_t = self._floor_t

    # -- time --------------------------------------------------------------------------

    def _projected(self, mono: float) -> float:
        return self._floor_t + max(0.0, mono - self._floor_mono)

    def _synced_t(self, mono: float) -> float | None:
        """Trusted time carried forward by the monotonic clock, if heard recently."""
        if self._sync is None:
            return None
        t, at = self._sync
        if mono < at or mono - at > self._sync_max_age_s:
            return None
        return t + (mono - at)

    def now(self) -> TrustedTime:
        """Known-good time now and its quality. Local state only (no I/O)."""
        with self._lock:
            mono, wall = self._clock.monotonic(), self._clock.now()
            projected = self._projected(mono)
            t = max(wall, projected)
            if wall < projected - self._tolerance_s:
                quality = ClockQuality.FLOOR if self._trusted_ever else ClockQuality.UNSURE
            else:
                synced = self._synced_t(mono)
                if synced is not None and abs(wall - synced) <= self._tolerance_s:
                    quality = ClockQuality.SYNCED
                else:
                    quality = ClockQuality.UNSURE
            return TrustedTime(t, quality)

    def raise_to(self, t: float, source: str) -> None:
        """Raise the floor to ``t`` (never lowers it). The file is written when a source
        is trusted for the first time or the floor moved ``persist_interval_s`` past the
        value on disk (so a restart loses at most that much; ``flush()`` at shutdown)."""
        t = float(t)
        if t != t or t in (float("inf"), float("-inf")):
            return
        with self._lock:
            mono = self._clock.monotonic()
            trusted = source in TRUSTED_SOURCES
            dirty = False
            if trusted:
                if not self._trusted_ever:
                    self._trusted_ever, dirty = True, True
                if self._trusted_t is None or t > self._trusted_t:
                    self._trusted_t, self._trusted_source = t, source
                if source in SYNC_SOURCES:
                    first = self._sync is None
                    self._sync, self._sync_source = (t, mono), source
                    dirty = dirty or first
            else:
                synced = self._synced_t(mono)
                if synced is not None and t > synced + self._tolerance_s:
                    log.debug("floor raise from %s ignored: ahead of trusted time", source)
                    return
            raised = t > self._projected(mono)
            if raised:
                self._floor_t, self._floor_mono, self._floor_source = t, mono, source
            if dirty or (raised and self._floor_t - self._persisted_t >= self._persist_interval_s):
                try:
                    self._save()
                except OSError as exc:
                    log.error("cannot write the time floor %s: %s", self._path, exc)

    def flush(self) -> None:
        """Write the floor now (at shutdown)."""
        with self._lock:
            try:
                self._save()
            except OSError as exc:
                log.error("cannot write the time floor %s: %s", self._path, exc)

    def status(self) -> dict[str, Any]:
        """For the status panel and the heartbeat (no personal data)."""
        now = self.now()
        with self._lock:
            mono, wall = self._clock.monotonic(), self._clock.now()
            projected = self._projected(mono)
            synced = self._synced_t(mono)
            return {
                "quality": now.quality.value,
                "t": now.t,
                "t_iso": _iso(now.t),
                "wall": wall,
                "floor_t": projected,
                "floor_source": self._floor_source,
                "behind_s": max(0.0, projected - wall),
                "trusted_ever": self._trusted_ever,
                "trusted_source": self._trusted_source,
                "last_sync_age_s": (mono - self._sync[1]) if self._sync is not None else None,
                "sync_source": self._sync_source,
                "wall_minus_synced_s": (wall - synced) if synced is not None else None,
                "build_time": self._build_time,
                "tolerance_s": self._tolerance_s,
            }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
