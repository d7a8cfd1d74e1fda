"""What the daemon tells people and machines: status panel, /healthz, /metrics, heartbeat.

Journal statistics are a SQLite query, so they are refreshed every couple of seconds
off the event loop (``refresh_stats``) and served from that cache; everything else is
read from memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Protocol

from device import __version__
from device.config import DaemonConfig
from device.daemon.metrics import Labels, Registry
from device.daemon.pipeline import Pipeline
from device.web.hub import Hub

log = logging.getLogger(__name__)

CLOCK_STATES = ("synced", "floor", "unsure")


class DaemonView(Protocol):
    """What the status board reads of the daemon (``device.daemon.app.Daemon``)."""

    config: DaemonConfig
    registry: Registry
    hub: Hub
    started_mono: float
    ready: bool
    watchdog_pings: int
    stop_event: asyncio.Event | None
    pipeline: Pipeline | None
    gate: Any
    verifier: Any
    timefloor: Any
    journal: Any
    uplink: Any
    identity: Any
    mux: Any

    @property
    def decided(self) -> int: ...


class StatusBoard:
    def __init__(self, daemon: DaemonView) -> None:
        self.d = daemon
        self.stats: Any = None
        self.stats_error: str | None = None
        self._stats_t = 0.0
        self._stats_decided = -1
        r = daemon.registry
        r.gauge("scangate_up", "1 while the daemon runs", lambda: [((), 1.0)])
        r.gauge("scangate_uptime_seconds", "Seconds since start",
                lambda: [((), time.monotonic() - daemon.started_mono)])
        r.gauge("scangate_sync_backlog_records", "Records waiting to be uploaded",
                lambda: [((), getattr(self.stats, "pending", None))])
        r.gauge("scangate_sync_oldest_pending_age_seconds", "Age of the oldest record waiting",
                lambda: [((), self._oldest_age())])
        r.gauge("scangate_journal_records", "Rows in the journal",
                lambda: [((), getattr(self.stats, "records", None))])
        r.gauge("scangate_journal_lost_records", "Decisions the journal could not keep (quota)",
                lambda: [((), getattr(self.stats, "lost", None))])
        r.gauge("scangate_journal_size_bytes", "Journal size on disk",
                lambda: [((), getattr(self.stats, "size_bytes", None))])
        r.gauge("scangate_uplink_online", "1 when the central engine answered lately",
                lambda: [((), self._uplink_online())])
        r.gauge("scangate_trust_list_version", "Installed trust-list version",
                lambda: [((), self._trust().get("version"))])
        r.gauge("scangate_trust_list_age_seconds", "Seconds since the trust list was issued",
                lambda: [((), self._trust().get("age_s"))])
        r.gauge("scangate_trust_list_stale", "1 when the trust list is past its expiry",
                lambda: [((), float(bool(self._trust().get("stale"))))])
        r.gauge("scangate_clock_state", "1 for the current clock quality", self._clock_samples)
        r.gauge("scangate_gate_opens_total", "Times the relay was opened",
                lambda: [((), daemon.gate.opens if daemon.gate else None)])
        r.gauge("scangate_gate_passages_total", "Passages reported by the sensor",
                lambda: [((), daemon.gate.passages if daemon.gate else None)])
        r.gauge("scangate_gate_passage_timeouts_total", "Holds closed by timeout",
                lambda: [((), daemon.gate.passage_timeouts if daemon.gate else None)])
        r.gauge("scangate_source_connected", "1 when a scan source is connected",
                lambda: self._source_samples("connected"))
        r.gauge("scangate_source_fps", "Camera frames per second",
                lambda: self._source_samples("fps"))
        r.gauge("scangate_decode_ms", "Camera decode time per frame (ms, as the source reports)",
                self._decode_samples)
        r.gauge("scangate_source_drops", "Input dropped by a source, by reason",
                self._drop_samples)
        r.gauge("scangate_screen_clients", "Staff screens connected",
                lambda: [((), float(daemon.hub.clients))])
        r.gauge("scangate_watchdog_pings_total", "WATCHDOG=1 sent to systemd",
                lambda: [((), float(daemon.watchdog_pings))])

    # ------------------------------------------------------------------ pieces

    async def refresh_stats(self, *, force: bool = False) -> None:
        j = self.d.journal
        if j is None:
            return
        now = time.monotonic()
        age = now - self._stats_t
        changed = self.d.decided != self._stats_decided
        if not force and age < 2.0 and not (changed and age >= 0.25):
            return
        self._stats_t = now
        self._stats_decided = self.d.decided
        try:
            self.stats = await asyncio.get_running_loop().run_in_executor(None, j.stats)
            self.stats_error = None
        except Exception as exc:
            self.stats_error = f"{type(exc).__name__}: {exc}"
            log.warning("journal stats: %s", self.stats_error)

    async def refresh_now(self) -> None:
        await self.refresh_stats(force=True)

    def _now(self) -> float:
        tf = self.d.timefloor
        return float(tf.now().t) if tf is not None else time.time()

    def _oldest_age(self) -> float | None:
        t = getattr(self.stats, "oldest_pending_t", None)
        return max(0.0, self._now() - t) if t is not None else None

    def _uplink(self) -> dict[str, Any]:
        up = self.d.uplink
        if up is None:
            return {"configured": False, "online": False}
        try:
            st = dict(up.status())
        except Exception as exc:  # status must never break the screen
            st = {"online": False, "last_error": f"status failed: {exc}"}
        st["configured"] = True
        st["online"] = bool(st.get("online"))
        return st

    def _uplink_online(self) -> float | None:
        return float(self._uplink()["online"]) if self.d.uplink is not None else None

    def revoked(self) -> bool:
        """The centre answered 403 ``revoked`` to this terminal's certificate."""
        return self.d.uplink is not None and self._uplink().get("identity_refused") == "revoked"

    def _identity(self) -> dict[str, Any]:
        agent = self.d.identity
        if agent is None:
            return {"state": "off"}
        st = agent.status()
        if st["state"] == "enrolled" and self.revoked():
            st["state"] = "revoked"
        return st

    def enrolment(self) -> dict[str, Any]:
        """The staff screen's enrolment panel: the state and, while the terminal can be
        enrolled from a voucher, the DPP-style URI its QR code shows."""
        st = self._identity()
        agent = self.d.identity
        if (agent is not None and st["state"] in ("unenrolled", "expired", "error", "revoked")
                and agent.wants_vouchers(refused=st["state"] == "revoked")):
            st["uri"] = agent.uri()
        return st

    def _trust(self) -> dict[str, Any]:
        v = self.d.verifier
        tl = v.trust_list if v is not None else None
        if tl is None:
            return {"version": None, "stale": False}
        now = self._now()
        return {"version": tl.version, "issued_at": tl.issued_at, "expires_at": tl.expires_at,
                "age_s": max(0.0, now - tl.issued_at), "expires_in_s": tl.expires_at - now,
                "stale": bool(tl.is_stale(now)), "keys": len(tl.keys),
                "revoked": len(tl.revoked)}

    def _clock(self) -> dict[str, Any]:
        tf = self.d.timefloor
        if tf is None:
            return {"quality": None}
        tt = tf.now()
        out: dict[str, Any] = {"quality": str(getattr(tt.quality, "value", tt.quality)),
                               "t": tt.t}
        try:
            out.update({k: v for k, v in dict(tf.status()).items() if k not in out})
        except Exception as exc:
            out["error"] = str(exc)
        return out

    def _clock_samples(self) -> list[tuple[Labels, float | None]]:
        q = self._clock().get("quality")
        return [((("state", s),), float(s == q)) for s in CLOCK_STATES]

    def _sources(self) -> list[dict[str, Any]]:
        mux = self.d.mux
        if mux is None:
            return []
        out = []
        for name, st in mux.status().items():
            st = dict(st)
            st.setdefault("name", name)
            st.setdefault("kind", name.split(":", 1)[0])
            out.append(st)
        return out

    def _source_samples(self, key: str) -> list[tuple[Labels, float | None]]:
        out: list[tuple[Labels, float | None]] = []
        for st in self._sources():
            v = st.get(key)
            if isinstance(v, bool | int | float):
                out.append(((("source", str(st["name"])),), float(v)))
        return out

    def _decode_samples(self) -> list[tuple[Labels, float | None]]:
        out: list[tuple[Labels, float | None]] = []
        for st in self._sources():
            for k, v in st.items():
                if "decode" in k and k.endswith("ms") and isinstance(v, int | float):
                    out.append(((("source", str(st["name"])), ("stat", k)), float(v)))
        return out

    def _drop_samples(self) -> list[tuple[Labels, float | None]]:
        out: list[tuple[Labels, float | None]] = []
        for st in self._sources():
            drops = st.get("drops")
            if isinstance(drops, dict):
                for reason, n in sorted(drops.items()):
                    if isinstance(n, int | float):
                        out.append(((("source", str(st["name"])), ("reason", str(reason))),
                                    float(n)))
        return out

    # ------------------------------------------------------------------ views

    def status(self) -> dict[str, Any]:
        d = self.d
        s = self.stats
        journal: dict[str, Any] = {"error": d.pipeline.last_journal_error if d.pipeline else None}
        if s is not None:
            journal.update(pending=s.pending, records=s.records, lost=s.lost,
                           set_aside=getattr(s, "set_aside", 0), size_bytes=s.size_bytes,
                           oldest_pending_age_s=self._oldest_age())
        return {
            "terminal_id": d.config.terminal_id,
            "version": __version__,
            "uptime_s": round(time.monotonic() - d.started_mono, 1),
            "uplink": self._uplink(),
            "identity": self._identity(),
            "journal": journal,
            "trust": self._trust(),
            "clock": self._clock(),
            "sources": self._sources(),
            "gate": d.gate.status() if d.gate is not None else None,
            "today": d.pipeline.today_counts() if d.pipeline else {},
            "decided": d.decided,
            "screen_clients": d.hub.clients,
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        d = self.d
        trust = self._trust()
        sources = self._sources()
        checks = {
            "running": d.ready and not (d.stop_event is not None and d.stop_event.is_set()),
            "gate": d.gate is not None and d.gate.status().get("relay_open") is not None,
            "trust_list": trust.get("version") is not None
            and not (trust.get("stale") and d.config.policy.stale_policy == "deny"),
            "journal": d.pipeline is not None and d.pipeline.last_journal_error is None
            and self.stats_error is None,
            "sources": any(bool(s.get("connected")) for s in sources),
        }
        warnings = []
        if trust.get("stale"):
            warnings.append("trust_list_stale")
        if self._clock().get("quality") != "synced":
            warnings.append("clock_not_synced")
        if d.uplink is not None and not self._uplink()["online"]:
            warnings.append("central_offline")
        ident = self._identity()
        warnings += {"revoked": ["terminal_revoked"], "unenrolled": ["terminal_not_enrolled"],
                     "expired": ["certificate_expired"]}.get(ident["state"], [])
        if ident.get("days_left") is not None and 0 < ident["days_left"] < 3:
            warnings.append("certificate_expiring")
        ok = all(checks.values())
        return ok, {"checks": checks, "warnings": warnings,
                    "identity": {k: ident.get(k) for k in ("state", "gate_id", "days_left",
                                                           "serial")},
                    "terminal_id": d.config.terminal_id, "version": __version__}

    def metrics(self) -> str:
        return self.d.registry.render()

    def heartbeat(self) -> dict[str, Any]:
        """What the uplink sends the centre: health without personal data."""
        ok, h = self.health()
        st = self.status()
        return {"ok": ok, "checks": h["checks"], "warnings": h["warnings"],
                "version": __version__, "journal": st["journal"],
                "trust_list_version": st["trust"].get("version"),
                "today": st["today"],  # "clock": the uplink sends the time floor's status
                "identity": {k: st["identity"].get(k) for k in ("state", "gate_id", "serial",
                                                                "days_left", "renewal_error")},
                "sources": [{k: s.get(k) for k in ("name", "kind", "connected", "fps")}
                            for s in st["sources"]]}

    def short_status(self) -> str:
        d = self.d
        tl = self._trust()
        return (f"{d.decided} decisions; trust list v{tl.get('version')}"
                f"{' STALE' if tl.get('stale') else ''}; "
                f"backlog {getattr(self.stats, 'pending', '?')}")
