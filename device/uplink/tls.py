"""The terminal-identity / TLS seam.

Every central call goes over TLS with the server certificate checked against the CA
pinned in the configuration (``uplink.ca_file``) and *only* that CA: the system trust
store is not consulted, so a certificate from any public CA is refused. Hostname
checking stays on.

Identity: mutual TLS. ``TerminalIdentity.client_cert``/``client_key`` (the enrolled
identity's files by default, docs/central-api.md) are loaded into the same SSL context;
the centre identifies the terminal by that certificate. A bearer token
(``Authorization: Bearer ...``) is the migration path for a terminal without a
certificate yet, and is not sent once it has one.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

from device.errors import KeyLoadError


@dataclass(frozen=True, kw_only=True)
class TerminalIdentity:
    """Who the terminal is to the centre."""

    token: str | None = None
    client_cert: Path | None = None  # PEM certificate (chain) for mutual TLS; provisioning
    client_key: Path | None = None  # PEM private key for mutual TLS

    def headers(self) -> dict[str, str]:
        """The bearer token only while there is no client certificate (migration)."""
        if self.token and self.client_cert is None:
            return {"Authorization": f"Bearer {self.token}"}
        return {}


def build_ssl_context(ca_file: Path, identity: TerminalIdentity | None = None) -> ssl.SSLContext:
    """An SSL context trusting only ``ca_file``; loads the client certificate if given."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.check_hostname = True
    ctx.verify_mode = ssl.CERT_REQUIRED
    try:
        ctx.load_verify_locations(cafile=str(ca_file))
    except (OSError, ssl.SSLError) as exc:
        raise KeyLoadError(
            f"cannot load the pinned central CA {ca_file}: {exc}; check uplink.ca_file "
            "points at a PEM CA certificate"
        ) from exc
    if identity is not None and identity.client_cert is not None:
        try:
            ctx.load_cert_chain(
                certfile=str(identity.client_cert),
                keyfile=str(identity.client_key) if identity.client_key else None,
            )
        except (OSError, ssl.SSLError) as exc:
            raise KeyLoadError(
                f"cannot load the terminal's client certificate {identity.client_cert}: {exc}; "
                "re-run provisioning for this terminal"
            ) from exc
    return ctx
