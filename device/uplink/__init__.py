"""Uplink to the central engine: uploads, heartbeat, trust-list updates, time from the centre.

See docs/central-api.md for the protocol and ``device.uplink.service.Uplink`` for the
service the daemon runs.
"""

from device.uplink.backoff import Backoff, parse_retry_after
from device.uplink.config import UplinkConfig
from device.uplink.service import Uplink
from device.uplink.tls import TerminalIdentity, build_ssl_context

__all__ = [
    "Backoff",
    "TerminalIdentity",
    "Uplink",
    "UplinkConfig",
    "build_ssl_context",
    "parse_retry_after",
]
