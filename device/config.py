"""The terminal's configuration: one TOML file, validated at start into frozen dataclasses.

A bad value raises ``ConfigError`` naming the key, the value and what is allowed;
unknown keys are errors too (a typo must not silently fall back to a default).
Relative paths are resolved against the directory of the configuration file.
``scangate config check FILE`` runs exactly this validation without starting.
See docs/operations.md for the reference of every key.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from device.daemon.decision import PROFILES, STALE_POLICIES, SitePolicy
from device.errors import ConfigError
from device.gate.factory import PIN_FACTORIES
from device.gate.outputs import PULLS, RELAY_MODES, GateConfig

T = TypeVar("T")
_MISSING: Any = object()


# --------------------------------------------------------------------------- tables


class Table:
    """One TOML table being read: typed getters that name the key in every error."""

    def __init__(self, data: Mapping[str, Any], prefix: str, base_dir: Path) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{prefix or 'top level'}: must be a table, got {data!r}")
        self.data = dict(data)
        self.prefix = prefix
        self.base_dir = base_dir
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise ConfigError(f"{self.key(name)}: missing (required)")
        return default

    def _bad(self, name: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"{self.key(name)} = {value!r}: {allowed}")

    def str_(self, name: str, default: Any = _MISSING, *, choices: tuple[str, ...] = (),
             nonempty: bool = True) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or (nonempty and not value):
            raise self._bad(name, value, "must be a non-empty string")
        if choices and value not in choices:
            raise self._bad(name, value, f"allowed: {', '.join(choices)}")
        return value

    def bool_(self, name: str, default: Any = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, value, "must be true or false")
        return value

    def int_(self, name: str, default: Any = _MISSING, *, lo: int | None = None,
             hi: int | None = None) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, value, "must be an integer")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self._bad(name, value, f"must be between {lo} and {hi}")
        return value

    def num(self, name: str, default: Any = _MISSING, *, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            raise self._bad(name, value, "must be a number")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise self._bad(name, value, f"must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and value > hi:
            raise self._bad(name, value, f"must be <= {hi}")
        return float(value)

    def pin(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 53:
            return value
        if isinstance(value, str) and value and len(value) <= 32:
            return value
        raise self._bad(name, value, "a BCM GPIO number 0..53 or a gpiozero pin name "
                        "such as \"GPIO17\" or \"BOARD11\"")

    def path(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value:
            raise self._bad(name, value, "must be a file path (string)")
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (self.base_dir / p)))

    def sub(self, name: str, *, required: bool = False) -> Table:
        value = self.raw(name, _MISSING if required else {})
        return Table(value, self.key(name), self.base_dir)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            allowed = ", ".join(sorted(self.used))
            raise ConfigError(
                f"{self.key(unknown[0])}: unknown key (allowed in "
                f"{self.prefix or 'the top level'}: {allowed})"
            )


def _wrap(key: str, build: Callable[[], T]) -> T:
    """Build another part's dataclass; its own ValueError becomes a ConfigError."""
    try:
        return build()
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError too
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(key) else f"{key}: {msg}") from exc


# --------------------------------------------------------------------------- sections


@dataclass(frozen=True, kw_only=True)
class SourceSpec:
    """One scan source: ``kind`` (camera | serial) and its validated options."""

    kind: str
    options: Mapping[str, Any]
    config: Any = None  # the scan-input part's own config object, when it has one


@dataclass(frozen=True, kw_only=True)
class TrustConfig:
    root_key: Path
    trust_list: Path


@dataclass(frozen=True, kw_only=True)
class JournalConfig:
    path: Path
    quota_bytes: int = 512 * 2**20
    retention_s: float = 7 * 86400.0
    min_free_bytes: int = 64 * 2**20


@dataclass(frozen=True, kw_only=True)
class ScreenConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = 8080
    verdict_display_s: float = 4.0


@dataclass(frozen=True, kw_only=True)
class DaemonConfig:
    terminal_id: str
    state_dir: Path
    sources: tuple[SourceSpec, ...]
    decoder: str
    dedupe_window_s: float
    gate: GateConfig
    policy: SitePolicy
    trust: TrustConfig
    journal: JournalConfig
    timefloor_path: Path
    screen: ScreenConfig
    uplink: Any = None  # device.uplink.config.UplinkConfig | None (no [uplink]: offline only)
    source_file: Path | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        srcs = ", ".join(
            f"{s.kind}:{s.options.get('port') or s.options.get('device', '')}".rstrip(":")
            for s in self.sources
        ) or "none"
        up = self.uplink.base_url if self.uplink is not None else "off (offline only)"
        return (
            f"terminal {self.terminal_id}: sources [{srcs}], decoder {self.decoder}, "
            f"gate {self.gate.pin_factory} relay {self.gate.relay_mode}, "
            f"profiles {sorted(self.policy.accepted_profiles)}, "
            f"yellow {'accepted' if self.policy.accept_yellow else 'denied'}, "
            f"anti-passback {self.policy.anti_passback_s / 60:g} min, "
            f"stale list {self.policy.stale_policy}, journal {self.journal.path}, "
            f"uplink {up}, screen http://{self.screen.host}:{self.screen.port}/"
        )


# --------------------------------------------------------------------------- parsing

def _parse_sources(top: Table, default_decoder: str) -> tuple[SourceSpec, ...]:
    from device.daemon.sourcecfg import parse_source  # scan-input config, see there

    raw = top.raw("sources", [])
    if not isinstance(raw, list):
        raise ConfigError(f"sources = {raw!r}: must be an array of tables ([[sources]])")
    specs = []
    for i, item in enumerate(raw):
        t = Table(item, f"sources[{i}]", top.base_dir)
        specs.append(parse_source(t, default_decoder=default_decoder))
    return tuple(specs)


def _parse_gate(t: Table) -> GateConfig:
    mode = t.str_("relay_mode", "pulse", choices=RELAY_MODES)
    cfg = GateConfig(
        pin_factory=t.str_("pin_factory", "mock", choices=tuple(PIN_FACTORIES)),
        relay_pin=t.pin("relay_pin", 17),
        green_led_pin=t.pin("green_led_pin", 27),
        red_led_pin=t.pin("red_led_pin", 22),
        buzzer_pin=None if t.raw("buzzer_pin", 23) == "none" else t.pin("buzzer_pin", 23),
        active_high=t.bool_("active_high", True),
        relay_active_high=t.bool_("relay_active_high", True),
        relay_mode=mode,
        pulse_ms=t.int_("pulse_ms", 1500, lo=50, hi=60_000),
        passage_pin=t.pin("passage_pin", None),
        passage_pull=t.str_("passage_pull", "up", choices=PULLS),
        passage_active_high=t.bool_("passage_active_high", False),
        passage_timeout_s=t.num("passage_timeout_s", 8.0, lo=0.5, hi=600),
        led_ms=t.int_("led_ms", 2000, lo=50, hi=60_000),
        beep_ms=t.int_("beep_ms", 80, lo=10, hi=2000),
        beep_gap_ms=t.int_("beep_gap_ms", 80, lo=10, hi=2000),
    )
    t.done()
    if mode == "hold" and cfg.passage_pin is None:
        raise ConfigError(
            "gate.relay_mode = 'hold': needs gate.passage_pin (the passage sensor input); "
            "or use relay_mode = 'pulse'"
        )
    if cfg.passage_pull == "up" and cfg.passage_active_high:
        raise ConfigError("gate.passage_active_high = true: with passage_pull = 'up' the "
                          "sensor is active low; set false, or passage_pull = 'down'")
    if cfg.passage_pull == "down" and not cfg.passage_active_high:
        raise ConfigError("gate.passage_active_high = false: with passage_pull = 'down' the "
                          "sensor is active high; set true, or passage_pull = 'up'")
    pins = [p for p in (cfg.relay_pin, cfg.green_led_pin, cfg.red_led_pin, cfg.buzzer_pin,
                        cfg.passage_pin) if p is not None]
    dup = sorted({str(p) for p in pins if pins.count(p) > 1})
    if dup:
        raise ConfigError(f"gate: pin {dup[0]} is used twice; every output needs its own pin")
    return cfg


def _parse_policy(t: Table) -> SitePolicy:
    profiles = t.raw("accepted_profiles", list(PROFILES))
    if (not isinstance(profiles, list) or not profiles
            or any(p not in PROFILES for p in profiles)):
        raise ConfigError(f"policy.accepted_profiles = {profiles!r}: a non-empty list of "
                          f"{', '.join(repr(p) for p in PROFILES)}")
    policy = SitePolicy(
        accept_yellow=t.bool_("accept_yellow", False),
        accepted_profiles=frozenset(profiles),
        anti_passback_s=t.num("anti_passback_min", 5.0, lo=0, hi=24 * 60) * 60,
        stale_policy=t.str_("stale_trust_list", "accept", choices=STALE_POLICIES),
    )
    t.done()
    return policy


def _parse_uplink(t: Table, terminal_id: str) -> Any:
    from device.uplink.config import UplinkConfig

    kw: dict[str, Any] = {
        "base_url": t.str_("base_url"),
        "terminal_id": terminal_id,
        "token": t.str_("token", None),
        "ca_file": t.path("ca_file", None),
        "client_cert": t.path("client_cert", None),
        "client_key": t.path("client_key", None),
    }
    for name in ("batch_size",):
        if t.has(name):
            kw[name] = t.int_(name, lo=1, hi=100_000)
    for name in ("batch_interval_s", "backoff_base_s", "backoff_cap_s", "heartbeat_interval_s",
                 "trust_poll_interval_s", "timeout_s", "retry_after_max_s"):
        if t.has(name):
            kw[name] = t.num(name, lo=0, lo_open=True)
    if t.has("allow_insecure_http"):
        kw["allow_insecure_http"] = t.bool_("allow_insecure_http")
    t.done()
    return _wrap("uplink", lambda: UplinkConfig(**kw))


def parse_config(data: Mapping[str, Any], *, base_dir: Path,
                 source_file: Path | None = None) -> DaemonConfig:
    """Validate a parsed TOML document. Raises ConfigError."""
    top = Table(data, "", base_dir)
    terminal_id = top.str_("terminal_id")
    if len(terminal_id) > 64 or not all(c.isalnum() or c in "-_." for c in terminal_id):
        raise ConfigError(f"terminal_id = {terminal_id!r}: 1-64 letters, digits, '-', '_', '.'")
    state_dir = top.path("state_dir", "/var/lib/scangate")

    dec = top.sub("decoder")
    decoder = dec.str_("backend", "zxing", choices=("zxing", "pyzbar", "opencv"))
    dec.done()
    sources = _parse_sources(top, decoder)
    dd = top.sub("dedupe")
    dedupe_window_s = dd.num("window_s", 3.0, lo=0, hi=600)
    dd.done()

    gate = _parse_gate(top.sub("gate"))
    policy = _parse_policy(top.sub("policy"))

    tr = top.sub("trust", required=True)
    trust = TrustConfig(root_key=tr.path("root_key"),
                        trust_list=tr.path("trust_list", str(state_dir / "trust-list.bin")))
    tr.done()

    jt = top.sub("journal")
    journal = JournalConfig(
        path=jt.path("path", str(state_dir / "journal.db")),
        quota_bytes=int(jt.num("quota_mb", 512, lo=1, hi=1_000_000) * 2**20),
        retention_s=jt.num("retention_days", 7, lo=0, hi=3650) * 86400,
        min_free_bytes=int(jt.num("min_free_mb", 64, lo=0, hi=1_000_000) * 2**20),
    )
    jt.done()

    tf = top.sub("timefloor")
    timefloor_path = tf.path("path", str(state_dir / "timefloor.json"))
    tf.done()

    sc = top.sub("screen")
    screen = ScreenConfig(
        enabled=sc.bool_("enabled", True),
        host=sc.str_("host", "127.0.0.1"),
        port=sc.int_("port", 8080, lo=0, hi=65535),
        verdict_display_s=sc.num("verdict_display_s", 4.0, lo=0.5, hi=60),
    )
    sc.done()

    uplink = _parse_uplink(top.sub("uplink"), terminal_id) if top.has("uplink") else None
    top.done()
    if not sources:
        raise ConfigError("sources: none configured; add at least one [[sources]] table "
                          "(type = \"serial\", \"camera\" or \"keyboard\")")
    return DaemonConfig(
        terminal_id=terminal_id, state_dir=state_dir, sources=sources, decoder=decoder,
        dedupe_window_s=dedupe_window_s, gate=gate, policy=policy, trust=trust,
        journal=journal, timefloor_path=timefloor_path, screen=screen, uplink=uplink,
        source_file=source_file,
    )


def secret_warnings(path: str | Path, cfg: DaemonConfig) -> list[str]:
    """Warnings about secrets readable by others (the token lives in the config file)."""
    out: list[str] = []
    if cfg.uplink is not None and cfg.uplink.token:
        try:
            mode = Path(path).stat().st_mode
        except OSError:
            return out
        if mode & 0o077:
            out.append(f"{path} holds the uplink token but is readable by other users "
                       f"(mode {mode & 0o777:o}); run: chmod 600 {path}")
    return out


def load_config(path: str | Path) -> DaemonConfig:
    """Read and validate a TOML configuration file. Raises ConfigError."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"configuration file {p} not found") from None
    except OSError as exc:
        raise ConfigError(f"configuration file {p} cannot be read: {exc}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"configuration file {p} is not UTF-8 text: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {p} is not valid TOML: {exc}") from exc
    return parse_config(data, base_dir=p.resolve().parent, source_file=p)
