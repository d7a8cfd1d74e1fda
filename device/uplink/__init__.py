"""Uplink to the central engine: uploads, heartbeat, trust-list updates, time from the centre.

See docs/central-api.md for the protocol and ``device.uplink.service.Uplink`` for the
service the daemon runs.

The names below are imported on first use (PEP 562): reading the configuration imports
``device.uplink.config``, and that must not pull in httpx and the whole service (~0.05-0.2 s
of a restarted terminal's blind time, bench/startup.py); the daemon loads the service on a
worker thread once its scan path runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from device.uplink.backoff import Backoff, parse_retry_after
    from device.uplink.config import UplinkConfig
    from device.uplink.service import Uplink
    from device.uplink.tls import TerminalIdentity, build_ssl_context

_WHERE = {
    "Backoff": "device.uplink.backoff",
    "parse_retry_after": "device.uplink.backoff",
    "UplinkConfig": "device.uplink.config",
    "Uplink": "device.uplink.service",
    "TerminalIdentity": "device.uplink.tls",
    "build_ssl_context": "device.uplink.tls",
}

__all__ = [
    "Backoff",
    "TerminalIdentity",
    "Uplink",
    "UplinkConfig",
    "build_ssl_context",
    "parse_retry_after",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
