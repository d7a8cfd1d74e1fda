"""Where the central API lives: ``uplink.base_url`` plus the versioned paths below.

``base_url`` is the centre's root, WITHOUT the API version: the terminal appends
``/v1/records``, ``/v1/heartbeat`` and ``/v1/trust-list`` itself. A path prefix is
allowed when the centre is mounted under one (``https://example.org/scangate`` →
``https://example.org/scangate/v1/records``). A base_url whose path already ends in
the version (``.../api/v1``) would send every request to ``.../api/v1/v1/records``:
``check_base_url`` refuses it with the URL to use instead (docs/central-api.md).
"""

from __future__ import annotations

from urllib.parse import urlsplit

from device.errors import ConfigError

API_VERSION = "v1"
UPLOAD_PATH = f"/{API_VERSION}/records"
HEARTBEAT_PATH = f"/{API_VERSION}/heartbeat"
TRUST_LIST_PATH = f"/{API_VERSION}/trust-list"


def check_base_url(base_url: str) -> None:
    """Refuse a base_url that is not a plain http(s) URL with a valid port, or that the
    versioned paths cannot be appended to (ConfigError)."""
    try:
        parts = urlsplit(base_url)
        port = parts.port  # ValueError for a port out of range or not a number
    except ValueError as exc:
        raise ConfigError(f"uplink.base_url = {base_url!r}: not a valid URL ({exc})") from exc
    if port == 0 or any(c.isspace() for c in parts.netloc):
        raise ConfigError(f"uplink.base_url = {base_url!r}: not a valid host and port")
    if parts.query or parts.fragment:
        raise ConfigError(f"uplink.base_url = {base_url!r}: no query or fragment; give the "
                          "centre's root URL, e.g. 'https://central.example.org'")
    segments = [s for s in parts.path.split("/") if s]
    if segments and segments[-1].lower() == API_VERSION:
        root = parts._replace(path="/".join(["", *segments[:-1]])).geturl()
        raise ConfigError(
            f"uplink.base_url = {base_url!r}: ends in /{API_VERSION}, but the terminal adds "
            f"the API version itself ({UPLOAD_PATH}, {HEARTBEAT_PATH}, {TRUST_LIST_PATH}); "
            f"use base_url = {root!r}")
