"""Where the self-test finds the terminal's centre and its TLS identity.

ONE adapter: everything the centre checks need comes from ``centre_settings``. Today it
reads ``[uplink] base_url, ca_file, client_cert, client_key, token``; if enrolment moves
the identity to another section (e.g. ``[identity]``), only this function changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from device.config import DaemonConfig


@dataclass(frozen=True, kw_only=True)
class CentreSettings:
    base_url: str
    terminal_id: str
    ca_file: Path | None  # the pinned CA of the centre
    client_cert: Path | None  # the terminal's certificate (chain), PEM
    client_key: Path | None  # its private key, PEM (never read beyond matching the cert)
    token: str | None
    timeout_s: float

    @property
    def is_tls(self) -> bool:
        return urlsplit(self.base_url).scheme == "https"

    @property
    def host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.base_url)
        return parts.port or (443 if parts.scheme == "https" else 80)


def centre_settings(cfg: DaemonConfig) -> CentreSettings | None:
    """The centre and identity the daemon would use; None when no [uplink] is configured."""
    up = cfg.uplink
    if up is None:
        return None
    return CentreSettings(base_url=up.base_url, terminal_id=up.terminal_id, ca_file=up.ca_file,
                          client_cert=up.client_cert, client_key=up.client_key,
                          token=up.token, timeout_s=up.timeout_s)
