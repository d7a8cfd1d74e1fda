"""The terminal daemon: one asyncio process.

    sources ─▶ Multiplexer ─▶ Deduper ─▶ Pipeline.handle (verify → policy → journal
    commit on one worker thread → gate → screen push → log line) ─▶ next scan
    beside it: uplink task (records → centre, heartbeat, trust-list updates),
               screen server (aiohttp, SSE), status pusher, watchdog pinger.

The uplink never sits on the decision path: it only swaps a new TrustList into the
verifier (``Verifier.replace_trust``, an atomic reference swap) and reads the journal
through its own connection/locking. SIGTERM: stop taking scans, finish the one in hand,
leave the outputs safe, flush and close, exit (well within 2 s).
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from device import __version__
from device.clock import Clock, SystemClock
from device.config import DaemonConfig
from device.daemon.metrics import Registry
from device.daemon.notify import Notifier
from device.daemon.pipeline import Outcome, Pipeline
from device.daemon.restore import restore_passback
from device.daemon.status import StatusBoard
from device.decide import SiteDecider
from device.errors import ScangateError
from device.sources.base import Scan, Source
from device.web.hub import Hub

log = logging.getLogger(__name__)

STATUS_PUSH_S = 1.0
#: The GIL hand-off interval the daemon sets for its process (CPython's default is 5 ms):
#: with the source, journal and timer threads beside the loop, the default let a ready
#: decision wait up to 5 ms for the GIL; 0.5 ms cut the p99 scan-to-relay latency about
#: in half in bench/latency.py, at no measurable cost (docs/daemon.md).
SWITCH_INTERVAL_S = 0.0005


def _stdout_line(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class Daemon:
    """Builds the parts from a ``DaemonConfig`` (or takes injected ones) and runs them.

    Injection points (tests, the simulator, the benches): ``pin_factory`` (a gpiozero
    factory, e.g. ``MockFactory``), ``sources`` (instead of building them from the
    configuration), ``uplink_transport`` (an httpx transport), ``notifier``,
    ``write_log`` (where the per-decision JSON lines go), ``clock``.
    """

    def __init__(self, config: DaemonConfig, *, clock: Clock | None = None,
                 pin_factory: Any = None, sources: Sequence[Source] | None = None,
                 uplink_transport: Any = None, notifier: Notifier | None = None,
                 write_log: Callable[[str], None] = _stdout_line,
                 journal_in_thread: bool = True,
                 on_outcome: Callable[[Outcome], None] | None = None,
                 switch_interval_s: float | None = SWITCH_INTERVAL_S) -> None:
        self.config = config
        self.clock: Clock = clock or SystemClock()
        self._pin_factory = pin_factory
        self._injected_sources = list(sources) if sources is not None else None
        self._uplink_transport = uplink_transport
        self.notifier = notifier or Notifier()
        self.write_log = write_log
        self.journal_in_thread = journal_in_thread
        self.on_outcome = on_outcome
        self.switch_interval_s = switch_interval_s
        self.registry = Registry()
        self.hub = Hub()
        self.started_mono = time.monotonic()
        self.stop_event: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[Any]] = []
        self._queue: asyncio.Queue[Scan] | None = None
        self.gate: Any = None
        self.verifier: Any = None
        self.trust_store: Any = None
        self.timefloor: Any = None
        self.journal: Any = None
        self.uplink: Any = None
        self.identity: Any = None  # device.enrol.agent.IdentityAgent
        self.mux: Any = None
        self.dedupe: Any = None
        self.screen: Any = None
        self.pipeline: Pipeline | None = None
        self.board: StatusBoard | None = None
        self.scans_read = self.registry.counter("scangate_scans_total",
                                                "Payloads read by the sources (before de-dup)",
                                                labels=("source",))
        self.scans_suppressed = self.registry.counter(
            "scangate_scans_suppressed_total", "Repeated reads suppressed by de-duplication",
            labels=("source",))
        self.watchdog_pings = 0
        self.ready = False
        self._stopped = False

    # ------------------------------------------------------------------ building

    def _build(self) -> None:
        cfg = self.config
        from device.config import preflight
        from device.gate import Gate

        # The checks `scangate config check` makes, by the same function (ConfigError).
        ready = preflight(cfg, pin_factory=self._pin_factory, sources=self._injected_sources)
        for warning in ready.warnings:
            log.warning("%s", warning)
        # Outputs first: a restart after a crash puts the gate in its safe state at once.
        self.gate = Gate(cfg.gate, pin_factory=ready.pin_factory)

        from device.clock.floor import TimeFloor
        from device.journal import Journal
        from device.verify import Verifier

        self.trust_store = ready.trust_store
        trust = ready.trust_list
        # The verifier reports facts (status, stale warning); the site policy (yellow,
        # stale list, profiles, anti-passback) is applied once, by SiteDecider.
        self.verifier = Verifier(trust if trust is not None else (), clock=self.clock)
        self.timefloor = TimeFloor(cfg.timefloor_path, clock=self.clock)
        if trust is not None:  # the signed issue time is a lower bound of the true time
            self.timefloor.raise_to(trust.issued_at, "trust-list")
        self.journal = Journal(
            cfg.journal.path, terminal_id=cfg.terminal_id, quota_bytes=cfg.journal.quota_bytes,
            retention_s=cfg.journal.retention_s, min_free_bytes=cfg.journal.min_free_bytes,
            set_aside_retention_s=cfg.journal.set_aside_s,
            clock=self.clock, timefloor=self.timefloor,
        )
        from device.sources.factory import Deduper, Multiplexer

        self.mux = Multiplexer(ready.sources)
        self.dedupe = Deduper(cfg.dedupe_window_s)
        decider = SiteDecider(cfg.policy)
        # the anti-passback window survives a restart (device/daemon/restore.py)
        restored = restore_passback(self.journal, decider.passback, self.timefloor.now(),
                                    time.monotonic())
        if restored:
            log.info("anti-passback: %d code id(s) accepted within the window before the "
                     "start are remembered", restored)
        self.pipeline = Pipeline(
            verifier=self.verifier, decider=decider, timefloor=self.timefloor,
            journal=self.journal, gate=self.gate, publish=self.hub.publish,
            write_log=self.write_log, registry=self.registry,
            monotonic=time.monotonic, journal_in_thread=self.journal_in_thread,
        )
        self.board = StatusBoard(self)
        # the identity agent and the uplink are built by start(), once the scan path runs
        # (_start_beside; a voucher read in that first moment is ignored, not decided)

    def _build_identity(self) -> None:
        cfg = self.config
        from device.enrol.agent import IdentityAgent
        from device.enrol.enrol import TrustTarget

        self.identity = IdentityAgent(
            cfg.terminal_id, cfg.identity,
            TrustTarget(root_key=cfg.trust.root_key if cfg.trust.root_pinned else None,
                        trust_list=cfg.trust.trust_list),
            now=lambda: float(self.timefloor.now().t), on_enrolled=self._on_enrolled,
            on_renewed=self._on_renewed, transport=self._uplink_transport)
        self.identity.start()

    def _make_uplink(self, config: Any) -> Any:
        if config is None:
            return None
        from device.uplink import Uplink

        assert self.board is not None
        return Uplink(
            config, journal=self.journal, timefloor=self.timefloor,
            trust_store=self.trust_store, on_trust_list=self._on_trust_list,
            health=self.board.heartbeat, transport=self._uplink_transport,
            clock=self.clock,
        )

    async def _on_enrolled(self, result: Any) -> None:
        """Enrolled from a scanned voucher: the new trust root and list, then the uplink
        over mutual TLS, without a restart (the gate kept deciding all along)."""
        from device.config.identity import effective_uplink
        from device.verify import TrustStore, load_root_key

        cfg = self.config
        self.trust_store = TrustStore(cfg.trust.trust_list, load_root_key(cfg.trust.root_key))
        trust = self.trust_store.load()
        if trust is not None:
            self.verifier.replace_trust(trust)
            self.timefloor.raise_to(trust.issued_at, "trust-list")
        old = next((t for t in self._tasks if t.get_name() == "scangate-uplink"), None)
        if old is not None:
            old.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await old
            self._tasks.remove(old)
        self.uplink = self._make_uplink(effective_uplink(cfg.terminal_id, cfg.uplink_options,
                                                         cfg.identity))
        if self.uplink is not None:
            self._spawn(self._uplink_loop(), "uplink")

    def _on_renewed(self, enrolment: Any) -> None:
        if self.uplink is not None:
            self.uplink.reload_identity()

    def _on_trust_list(self, trust: Any) -> None:
        self.verifier.replace_trust(trust)
        log.warning("trust list version %s installed (%d keys, %d revoked)",
                    trust.version, len(trust.keys), len(trust.revoked))

    # ------------------------------------------------------------------ running

    async def start(self) -> None:
        """Build and start everything; ScangateError if the configuration cannot run."""
        self.stop_event = asyncio.Event()
        self._queue = asyncio.Queue()
        if self.switch_interval_s is not None:
            sys.setswitchinterval(self.switch_interval_s)
        try:
            self._build()
        except BaseException:
            self._close_sync()
            raise
        assert self.board is not None
        # The scan path first: the readers open and scans are decided from here on, while
        # the slower parts beside the path (the screen's aiohttp, the uplink's httpx) are
        # still being imported and built (bench/startup.py, docs/daemon.md "Start-up").
        self._spawn(self._pump(), "pump")
        self._spawn(self._consume(), "consume")
        try:
            await self._start_beside()
        except BaseException:
            await self._abort_start()
            raise
        self._spawn(self._status_loop(), "status")
        self._spawn(self._watchdog_loop(), "watchdog")
        if self.uplink is not None and not any(t.get_name() == "scangate-uplink"
                                               for t in self._tasks):
            self._spawn(self._uplink_loop(), "uplink")
        if self.identity is not None:
            self._spawn(self.identity.renewer.run(), "renewal")
        self.ready = True
        self.notifier.ready(self.board.short_status())
        url = self.screen.url if self.screen is not None else None
        self.write_log(json.dumps({"event": "ready", "terminal": self.config.terminal_id,
                                   "version": __version__, "screen": url,
                                   "pid": os.getpid()}, separators=(",", ":")))

    async def _start_beside(self) -> None:
        """The identity agent, the staff screen and the uplink (not on the scan path)."""
        assert self.board is not None
        if self.config.identity is not None:
            await self._load("device.enrol.agent")
            self._build_identity()
        if self.config.screen.enabled:
            await self._load("device.web.server")
            from device.web.server import ScreenServer

            self.screen = ScreenServer(
                hub=self.hub, status=self.board.status, health=self.board.health,
                metrics=self.board.metrics, display_s=self.config.screen.verdict_display_s,
                host=self.config.screen.host, port=self.config.screen.port,
                refresh=self.board.refresh_now, enrolment=self.board.enrolment,
            )
            try:
                await self.screen.start()
            except OSError as exc:
                raise ScangateError(
                    f"staff screen cannot listen on {self.config.screen.host}:"
                    f"{self.config.screen.port} ({exc}); change screen.port or stop the "
                    "other program") from exc
        if self.config.uplink is not None and self.uplink is None:  # (not enrolled meanwhile)
            await self._load("device.uplink.service")
            self.uplink = self._make_uplink(self.config.uplink)

    @staticmethod
    async def _load(module: str) -> None:
        """Import a part beside the path on a worker thread: the loop keeps deciding."""
        await asyncio.to_thread(importlib.import_module, module)

    async def _stop_beside(self) -> None:
        """Stop the parts beside the path (tasks, screen, readers, identity agent), each
        within its time limit; whatever one of them raises, the next is still stopped."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.screen is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.screen.stop(), 1.0)
            self.screen = None
        if self.mux is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.mux.close(), 0.5)
        if self.identity is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.identity.close(), 1.0)

    async def _abort_start(self) -> None:
        """A part beside the path failed to start: undo what runs, outputs safe."""
        await self._stop_beside()
        if self.gate is not None:
            self.gate.safe()
        self._close_sync()

    def _spawn(self, coro: Any, name: str) -> None:
        task = asyncio.create_task(coro, name=f"scangate-{name}")
        self._tasks.append(task)

    async def _pump(self) -> None:
        assert self._queue is not None
        from device.enrol.voucher import is_voucher

        async for scan in self.mux.scans():
            self.scans_read.inc(source=scan.source)
            if not self.dedupe.admit(scan):
                self.scans_suppressed.inc(source=scan.source)
            elif is_voucher(scan.payload):
                # An enrolment voucher is never decided, journaled or shown as a verdict;
                # its exchange with the centre runs as its own task (device/enrol/agent.py).
                if self.identity is not None:
                    self.identity.offer(scan.payload, refused=self.board is not None
                                        and self.board.revoked())
            else:
                self._queue.put_nowait(scan)

    async def _consume(self) -> None:
        """Decide scans one by one; on stop, finish the one in hand and return."""
        assert self._queue is not None and self.stop_event is not None
        assert self.pipeline is not None
        stop = asyncio.ensure_future(self.stop_event.wait())
        try:
            while not self.stop_event.is_set():
                get = asyncio.ensure_future(self._queue.get())
                await asyncio.wait({get, stop}, return_when=asyncio.FIRST_COMPLETED)
                if not get.done():
                    get.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await get
                    break
                scan = get.result()
                try:
                    out = await self.pipeline.handle(scan)
                except Exception:  # never let one scan stop the gate
                    log.exception("deciding a scan from %s failed", scan.source)
                    continue
                if self.on_outcome is not None:
                    self.on_outcome(out)
        finally:
            stop.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stop

    async def _status_loop(self) -> None:
        assert self.board is not None
        while True:
            await self.board.refresh_stats()
            if self.hub.clients:
                self.hub.publish("status", self.board.status())
            await asyncio.sleep(STATUS_PUSH_S)

    async def _watchdog_loop(self) -> None:
        """WATCHDOG=1 from the event loop itself: a hung loop stops the pings."""
        interval = self.notifier.watchdog_interval_s
        status_every = 30.0
        last_status = 0.0
        while True:
            t = time.monotonic()
            if interval is not None:
                self.notifier.watchdog()
                self.watchdog_pings += 1
            if self.notifier.enabled and t - last_status >= status_every and self.board:
                self.notifier.status(self.board.short_status())
                last_status = t
            await asyncio.sleep(interval if interval is not None else status_every)

    async def _uplink_loop(self) -> None:
        try:
            await self.uplink.run()
        except asyncio.CancelledError:
            raise
        except Exception:  # the uplink failing must never touch the gate
            log.exception("uplink stopped with an error; decisions go on offline")

    def request_stop(self) -> None:
        if self.stop_event is not None and not self.stop_event.is_set():
            log.info("stop requested")
            self.stop_event.set()

    async def wait_stopped(self) -> None:
        assert self.stop_event is not None
        await self.stop_event.wait()

    async def stop(self) -> None:
        """Finish the scan in hand, outputs safe, flush, close. Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.notifier.stopping()
        self.request_stop()
        consume = next((t for t in self._tasks if t.get_name() == "scangate-consume"), None)
        if consume is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(asyncio.shield(consume), 1.0)
        gate_state: dict[str, Any] = {}
        if self.gate is not None:
            self.gate.safe()  # safe state before anything slower
            gate_state = self.gate.status()
            self.gate.close()
        await self._stop_beside()
        self._close_sync()
        safe = bool(gate_state) and not any(
            gate_state.get(k) for k in ("relay_open", "green", "red", "buzzer"))
        self.write_log(json.dumps({"event": "stopped", "decisions": self.decided,
                                   "outputs_safe": safe, "gate": gate_state},
                                  separators=(",", ":")))
        self.notifier.close()

    def _close_sync(self) -> None:
        if self.pipeline is not None:
            self.pipeline.close()
        if self.timefloor is not None:
            with contextlib.suppress(Exception):
                self.timefloor.flush()
        if self.journal is not None:
            try:
                self.journal.close()
            except Exception as exc:
                log.warning("journal close: %s", exc)
            self.journal = None
        if self.gate is not None:
            self.gate.close()

    @property
    def decided(self) -> int:
        return self.pipeline.decided if self.pipeline is not None else 0


async def serve(config: DaemonConfig, **kwargs: Any) -> int:
    """Run until SIGTERM/SIGINT; the daemon's whole life."""
    daemon = Daemon(config, **kwargs)
    loop = asyncio.get_running_loop()
    await daemon.start()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, daemon.request_stop)
    try:
        await daemon.wait_stopped()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        await daemon.stop()
    return 0


def run_daemon(config: DaemonConfig, **kwargs: Any) -> int:
    """Blocking entry point for ``scangate run``."""
    return asyncio.run(serve(config, **kwargs))
