"""The validated configuration: frozen dataclasses, one per section of the TOML file."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from device.decide.policy import SitePolicy
from device.gate.outputs import GateConfig


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
    root_pinned: bool = True  # False: root_key is the enrolled identity's trust-root.pem


@dataclass(frozen=True, kw_only=True)
class JournalConfig:
    path: Path
    quota_bytes: int = 512 * 2**20
    retention_s: float = 7 * 86400.0
    min_free_bytes: int = 64 * 2**20
    set_aside_s: float = 30 * 86400.0


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
    identity: Any = None  # device.identity.IdentityConfig ([identity]; defaults filled)
    uplink_options: Mapping[str, Any] | None = None  # [uplink] as given (before identity)
    extra: Mapping[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        srcs = ", ".join(
            f"{s.kind}:{s.options.get('port') or s.options.get('device', '')}".rstrip(":")
            for s in self.sources
        ) or "none"
        up = self.uplink.base_url if self.uplink is not None else "off (offline only)"
        if self.uplink is not None and self.uplink.client_cert is not None:
            up += " (mutual TLS)"
        return (
            f"terminal {self.terminal_id}: sources [{srcs}], decoder {self.decoder}, "
            f"gate {self.gate.pin_factory} relay {self.gate.relay_mode}, "
            f"profiles {sorted(self.policy.accepted_profiles)}, "
            f"yellow {'accepted' if self.policy.accept_yellow else 'denied'}, "
            f"anti-passback {self.policy.anti_passback_s / 60:g} min, "
            f"stale list {self.policy.stale_policy}, journal {self.journal.path}, "
            f"uplink {up}, screen http://{self.screen.host}:{self.screen.port}/"
        )


