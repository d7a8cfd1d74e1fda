"""Everything ``scangate run`` checks before it starts: ONE function, also behind
``scangate config check`` (and so systemd's ``ExecStartPre``).

    cfg = load_config(path)              # the file: types, ranges, unknown keys
    ready = preflight(cfg)               # the machine: files, keys, backends (below)
    ...                                  # the daemon builds its parts from ``ready``
    ready.close()

``Daemon`` calls it when it starts and ``config check`` calls it with ``dry_run=True``;
there is no second copy of these rules, so check's verdict is run's verdict short of
binding the screen's port and opening the devices. Steps, in order; the first that fails
raises ``ConfigError`` naming the key, the value and what to do:

  state dirs   ``state_dir`` and the directories of the journal, the time floor and the
               trust list exist or can be created (mode 0700) and take a new file
  state files  those that exist (journal and its side files, time floor, trust list)
               can be opened for writing
  root key     ``trust.root_key`` exists and holds a public key or certificate (left
               out and not enrolled yet: a warning, the centre hands it out at enrolment)
  trust list   an installed list verifies against the root key (none installed, or a
               stale one: a warning, the daemon still starts and denies what it must)
  screen       ``screen.host`` resolves; a port below 1024 needs root
  gate         the pin factory loads on this machine (``lgpio`` on a Pi 5, ...)
  sources      every ``[[sources]]`` builds: camera backends and decoders found by name
               (a device that is not plugged in yet is not an error: the daemon waits)
  uplink       the central client can be built: base_url, the pinned CA, the client
               certificate and key, exactly as the uplink builds it

``dry_run=True`` leaves no trace: the directories it had to create are removed again
(a technician's ``sudo scangate config check`` must not leave root-owned directories
the service user cannot write) and the pin factory is closed.
"""

from __future__ import annotations

import contextlib
import functools
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from device.config.model import DaemonConfig
from device.errors import ConfigError, OperatorError

T = TypeVar("T")
PROBE_NAME = ".scangate-preflight-{pid}"
#: Side files the journal keeps next to its database.
JOURNAL_SIDE_FILES = ("-wal", "-shm", "-journal", ".seq")


@dataclass
class Preflight:
    """What the checks found and built; the daemon starts from it."""

    root_key: Any = None
    trust_store: Any = None
    trust_list: Any = None  # the installed TrustList, or None
    pin_factory: Any = None
    sources: list[Any] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)  # one line per step, for the operator
    warnings: list[str] = field(default_factory=list)
    _own_pin_factory: bool = False
    _created_dirs: list[Path] = field(default_factory=list)

    def close(self) -> None:
        """Release what only the checks needed (the pin factory they made)."""
        if self._own_pin_factory and self.pin_factory is not None:
            with contextlib.suppress(Exception):
                self.pin_factory.close()
        self.pin_factory = None

    def _remove_created_dirs(self) -> None:
        for d in reversed(self._created_dirs):
            with contextlib.suppress(OSError):
                d.rmdir()
        self._created_dirs.clear()


def _as_config_error(key: str, value: object, build: Callable[[], T]) -> T:
    """``build()``; an error raised on purpose (also by a backend loaded by name) becomes
    a ConfigError naming ``key`` (and ``value`` unless None)."""
    try:
        return build()
    except ConfigError:
        raise
    except OperatorError as exc:
        where = key if value is None else f"{key} = {str(value)!r}"
        raise ConfigError(f"{where}: {exc}") from exc


def _make_dir(d: Path, key: str, value: Path, pre: Preflight) -> None:
    missing: list[Path] = []
    p = d
    while not p.exists() and p != p.parent:
        missing.append(p)
        p = p.parent
    for m in reversed(missing):
        try:
            m.mkdir(mode=0o700)
        except FileExistsError:
            continue
        except OSError as exc:
            raise ConfigError(f"{key} = {str(value)!r}: cannot create {m} "
                              f"({exc.strerror or exc}); create it for the service user, "
                              "or choose another path") from exc
        pre._created_dirs.append(m)
    if not d.is_dir():
        raise ConfigError(f"{key} = {str(value)!r}: {d} is not a directory")
    probe = d / PROBE_NAME.format(pid=os.getpid())
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, b"x")
        finally:
            os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"{key} = {str(value)!r}: cannot write in {d} "
                          f"({exc.strerror or exc}); it must be writable by the service "
                          "user") from exc


def _check_writable(path: Path, key: str) -> None:
    if not path.exists():
        return
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.close(fd)
    except OSError as exc:
        raise ConfigError(f"{key} = {str(path)!r}: cannot be opened for writing "
                          f"({exc.strerror or exc}); check its owner and mode") from exc


def _state(cfg: DaemonConfig, pre: Preflight) -> None:
    dirs = [("state_dir", cfg.state_dir, cfg.state_dir),
            ("journal.path", cfg.journal.path, cfg.journal.path.parent),
            ("timefloor.path", cfg.timefloor_path, cfg.timefloor_path.parent),
            ("trust.trust_list", cfg.trust.trust_list, cfg.trust.trust_list.parent)]
    seen: set[Path] = set()
    for key, value, d in dirs:
        if d not in seen:
            seen.add(d)
            _make_dir(d, key, value, pre)
    files = [("journal.path", cfg.journal.path)]
    files += [("journal.path", cfg.journal.path.with_name(cfg.journal.path.name + s))
              for s in JOURNAL_SIDE_FILES]
    files += [("timefloor.path", cfg.timefloor_path), ("trust.trust_list", cfg.trust.trust_list)]
    for key, f in files:
        _check_writable(f, key)
    pre.checked.append(f"state: {', '.join(str(d) for d in sorted(seen))} writable")


def _trust(cfg: DaemonConfig, pre: Preflight) -> None:
    from device.verify.trustlist import TrustStore, load_root_key

    if not cfg.trust.root_pinned and not cfg.trust.root_key.exists():
        # No root pinned in the configuration and not enrolled yet: the centre hands the
        # root out at enrolment (docs/provisioning.md); until then every code is denied.
        pre.warnings.append(
            f"not enrolled: no trust root yet ({cfg.trust.root_key}); every code will be "
            "denied (unknown_key) until the terminal is enrolled (scangate provision enroll, "
            "or a voucher shown to its scanner)")
        pre.checked.append("root key: none yet (not enrolled)")
        return
    pre.root_key = _as_config_error("trust.root_key", cfg.trust.root_key,
                                    lambda: load_root_key(cfg.trust.root_key))
    pre.checked.append(f"root key: {cfg.trust.root_key}")
    pre.trust_store = TrustStore(cfg.trust.trust_list, pre.root_key)
    pre.trust_list = _as_config_error("trust.trust_list", cfg.trust.trust_list,
                                      pre.trust_store.load)
    tl = pre.trust_list
    if tl is None:
        pre.warnings.append(
            f"no trust list installed at {cfg.trust.trust_list}: every code will be denied "
            "(unknown_key) until one is installed (provisioning) or the uplink fetches one")
        return
    pre.checked.append(f"trust list: version {tl.version}, {len(tl.keys)} keys, "
                       f"{len(tl.revoked)} revoked")
    if tl.is_stale(time.time()):
        then = "every code will be denied" if cfg.policy.stale_policy == "deny" else \
            "codes are still decided (policy.stale_trust_list = 'accept'), with a warning"
        pre.warnings.append(f"the trust list at {cfg.trust.trust_list} (version {tl.version}) "
                            f"is past its expiry: {then}")


def _screen(cfg: DaemonConfig, pre: Preflight) -> None:
    sc = cfg.screen
    if not sc.enabled:
        pre.checked.append("screen: off")
        return
    try:
        socket.getaddrinfo(sc.host, sc.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(f"screen.host = {sc.host!r}: not an address of this machine "
                          f"({exc}); use 127.0.0.1 for the kiosk on the terminal") from exc
    if 0 < sc.port < 1024 and hasattr(os, "geteuid") and os.geteuid() != 0:
        raise ConfigError(f"screen.port = {sc.port}: ports below 1024 need root, and the "
                          "daemon runs as the service user; use e.g. 8080")
    pre.checked.append(f"screen: {sc.host}:{sc.port} (bound when the daemon starts)")


def _gate(cfg: DaemonConfig, pre: Preflight, pin_factory: Any) -> None:
    from device.gate.factory import make_pin_factory

    if pin_factory is not None:
        pre.pin_factory = pin_factory
        pre.checked.append("gate: pin factory given by the caller")
        return
    name = cfg.gate.pin_factory
    pre.pin_factory = _as_config_error("gate.pin_factory", name,
                                       lambda: make_pin_factory(name))
    pre._own_pin_factory = True
    pre.checked.append(f"gate: pin factory {name} loads")


def _sources(cfg: DaemonConfig, pre: Preflight) -> None:
    from device.sources.factory import build_source

    for i, spec in enumerate(cfg.sources):
        value = spec.options.get("backend", spec.kind)
        pre.sources.append(_as_config_error(f"sources[{i}]", value,
                                            functools.partial(build_source, spec.config)))
    pre.checked.append(f"sources: {len(pre.sources)} built ("
                       + ", ".join(s.name for s in pre.sources) + ")")


def _uplink(cfg: DaemonConfig, pre: Preflight) -> None:
    if cfg.uplink is None:
        pre.checked.append("uplink: off (offline only)")
        return
    from device.clock import SystemClock
    from device.uplink.client import CentralClient

    # The very constructor the uplink uses: whatever it refuses, this refuses. (Nothing
    # is sent: an httpx client opens no connection before its first request.)
    _as_config_error("uplink", None, lambda: CentralClient(cfg.uplink, clock=SystemClock()))
    pre.checked.append(f"uplink: {cfg.uplink.base_url}"
                       + (f" (CA {cfg.uplink.ca_file})" if cfg.uplink.ca_file else ""))
    if cfg.identity is not None:
        from device.identity import IdentityStore

        enrolment = IdentityStore(cfg.identity.dir).load()
        enrolled = enrolment.central_url.rstrip("/") if enrolment is not None else None
        if enrolled is not None and cfg.uplink.base_url.rstrip("/") != enrolled:
            pre.warnings.append(
                f"uplink.base_url = {cfg.uplink.base_url!r} overrides the centre this terminal "
                f"enrolled at ({enrolled}), with the same CA pin and certificate; remove it "
                "unless the centre has moved")


def preflight(cfg: DaemonConfig, *, dry_run: bool = False, pin_factory: Any = None,
              sources: Sequence[Any] | None = None) -> Preflight:
    """Run every check ``scangate run`` makes before it starts; ``ConfigError`` on the
    first failure. ``pin_factory``/``sources``: injected by tests and the simulator
    (then not built here). ``dry_run``: leave no trace (``config check``)."""
    pre = Preflight()
    try:
        _state(cfg, pre)
        _trust(cfg, pre)
        _screen(cfg, pre)
        _gate(cfg, pre, pin_factory)
        if sources is None:
            _sources(cfg, pre)
        else:
            pre.sources = list(sources)
            pre.checked.append(f"sources: {len(pre.sources)} given by the caller")
        _uplink(cfg, pre)
    except BaseException:
        pre.close()
        if dry_run:
            pre._remove_created_dirs()
        raise
    if dry_run:
        pre.close()
        pre._remove_created_dirs()
    return pre
