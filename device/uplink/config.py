"""Uplink configuration: where the central engine is, who this terminal is, how hard to push.

A frozen dataclass validated on construction; a bad value raises ``ConfigError`` naming
the key, the value and what is allowed.
"""

from __future__ import annotations

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from device.errors import ConfigError
from device.uplink.endpoints import check_base_url


@dataclass(frozen=True, kw_only=True)
class UplinkConfig:
    base_url: str
    terminal_id: str
    token: str | None = None
    ca_file: Path | None = None
    batch_size: int = 500
    batch_interval_s: float = 5.0
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 300.0
    heartbeat_interval_s: float = 60.0
    trust_poll_interval_s: float = 300.0
    timeout_s: float = 10.0
    # Not in the first contract; optional with safe defaults.
    client_cert: Path | None = None
    client_key: Path | None = None
    retry_after_max_s: float = 6 * 3600.0
    # Plain http:// is refused for any host but loopback, and to loopback (the simulator)
    # only with this set: secure by default (docs/central-api.md, "Transport").
    allow_insecure_http: bool = False

    def __post_init__(self) -> None:
        check_base_url(self.base_url)  # a valid URL, the centre's root, without /v1
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("https", "http") or not parts.netloc:
            raise ConfigError(
                f"uplink.base_url={self.base_url!r}: must be an absolute https:// URL "
                "(http:// only for the simulator on loopback)"
            )
        if parts.scheme == "http" and not is_loopback(parts.hostname):
            raise ConfigError(
                f"uplink.base_url={self.base_url!r}: plain http is allowed only to a loopback "
                "address (the simulator); use https:// with the centre's CA pinned "
                "(uplink.ca_file, or enrol: scangate provision enroll)"
            )
        if parts.scheme == "http" and not self.allow_insecure_http:
            raise ConfigError(
                f"uplink.base_url={self.base_url!r}: plain http, even to loopback, needs "
                "uplink.allow_insecure_http = true (the simulator only); use https://"
            )
        if parts.scheme == "http" and self.ca_file is not None:
            raise ConfigError(
                f"uplink.ca_file={self.ca_file}: set but base_url is http://; use https://"
            )
        if parts.scheme == "https" and self.ca_file is None:
            raise ConfigError(
                f"uplink.ca_file is not set: https://{parts.netloc} needs the centre's CA "
                "pinned (set uplink.ca_file, or enrol: scangate provision enroll)"
            )
        if not self.terminal_id or len(self.terminal_id) > 64 or not all(
            c.isalnum() or c in "-_." for c in self.terminal_id
        ):
            raise ConfigError(
                f"uplink.terminal_id={self.terminal_id!r}: 1-64 characters of letters, digits, "
                "'-', '_' or '.'"
            )
        if self.token is not None and (not self.token or any(c.isspace() for c in self.token)):
            raise ConfigError("uplink.token: must be a non-empty string without spaces, or unset")
        if (self.client_cert is None) != (self.client_key is None):
            raise ConfigError(
                "uplink.client_cert and uplink.client_key: set both (mutual TLS) or neither"
            )
        if not 1 <= self.batch_size <= 100_000:
            raise ConfigError(f"uplink.batch_size={self.batch_size}: must be 1..100000")
        for name in (
            "batch_interval_s",
            "backoff_base_s",
            "backoff_cap_s",
            "heartbeat_interval_s",
            "trust_poll_interval_s",
            "timeout_s",
            "retry_after_max_s",
        ):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
                raise ConfigError(f"uplink.{name}={value!r}: must be a number > 0 (seconds)")
        if self.backoff_cap_s < self.backoff_base_s:
            raise ConfigError(
                f"uplink.backoff_cap_s={self.backoff_cap_s}: must be >= backoff_base_s="
                f"{self.backoff_base_s}"
            )

    @property
    def is_tls(self) -> bool:
        return self.base_url.startswith("https://")

    @property
    def has_client_cert(self) -> bool:
        return self.client_cert is not None


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: the only hosts plain http may go to."""
    if not host:
        return False
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
