"""Reading the TOML file into a ``DaemonConfig``: every section validated, unknown keys refused.

A bad value raises ``ConfigError`` naming the key, the value and what is allowed;
unknown keys are errors too (a typo must not silently fall back to a default).
Relative paths are resolved against the directory of the configuration file.
``scangate config check FILE`` runs exactly this validation without starting.
See docs/operations.md for the reference of every key.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from device.config.identity import effective_uplink, parse_identity
from device.config.model import (
    DaemonConfig,
    JournalConfig,
    ScreenConfig,
    SourceSpec,
    TrustConfig,
)
from device.config.sources import parse_source
from device.config.tables import Table
from device.decide.policy import PROFILES, STALE_POLICIES, SitePolicy
from device.errors import ConfigError
from device.gate.factory import PIN_FACTORIES
from device.gate.outputs import PULLS, RELAY_MODES, GateConfig
from device.identity import IdentityStore


def _parse_sources(top: Table, default_decoder: str) -> tuple[SourceSpec, ...]:
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


def _parse_uplink(t: Table) -> dict[str, Any]:
    """The [uplink] options as given (``base_url`` may be left to the enrolled identity)."""
    kw: dict[str, Any] = {
        "base_url": t.str_("base_url", None),
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
    return kw


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

    identity = parse_identity(top.sub("identity"), state_dir)
    tr = top.sub("trust")
    pinned_root = tr.has("root_key")
    trust = TrustConfig(
        # Without a pinned root: the one the centre handed out at enrolment.
        root_key=tr.path("root_key", str(IdentityStore(identity.dir).root_path)),
        trust_list=tr.path("trust_list", str(state_dir / "trust-list.bin")),
        root_pinned=pinned_root)
    tr.done()

    jt = top.sub("journal")
    journal = JournalConfig(
        path=jt.path("path", str(state_dir / "journal.db")),
        quota_bytes=int(jt.num("quota_mb", 512, lo=1, hi=1_000_000) * 2**20),
        retention_s=jt.num("retention_days", 7, lo=0, hi=3650) * 86400,
        min_free_bytes=int(jt.num("min_free_mb", 64, lo=0, hi=1_000_000) * 2**20),
        set_aside_s=jt.num("set_aside_days", 30, lo=0, hi=3650) * 86400,
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

    uplink_options = _parse_uplink(top.sub("uplink")) if top.has("uplink") else None
    top.done()
    uplink = effective_uplink(terminal_id, uplink_options, identity)
    if not sources:
        raise ConfigError("sources: none configured; add at least one [[sources]] table "
                          "(type = \"serial\", \"camera\" or \"keyboard\")")
    return DaemonConfig(
        terminal_id=terminal_id, state_dir=state_dir, sources=sources, decoder=decoder,
        dedupe_window_s=dedupe_window_s, gate=gate, policy=policy, trust=trust,
        journal=journal, timefloor_path=timefloor_path, screen=screen, uplink=uplink,
        source_file=source_file, identity=identity, uplink_options=uplink_options,
    )


def secret_warnings(path: str | Path, cfg: DaemonConfig) -> list[str]:
    """Warnings about secrets readable by others (the token lives in the config file)."""
    out: list[str] = []
    if cfg.uplink is not None and cfg.uplink.token and cfg.uplink.client_cert is not None:
        out.append("uplink.token is not sent: this terminal has a client certificate "
                   "(mutual TLS); remove the token from the configuration")
    if cfg.identity is not None:
        key = Path(cfg.identity.dir) / "terminal.key"
        try:
            kmode = key.stat().st_mode
        except OSError:
            kmode = 0
        if kmode & 0o077:
            out.append(f"{key} (the terminal's private key) is readable by other users "
                       f"(mode {kmode & 0o777:o}); run: chmod 600 {key}")
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
