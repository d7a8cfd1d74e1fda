"""The terminal's configuration: one TOML file, validated at start into frozen dataclasses.

    from device.config import load_config
    cfg = load_config("/etc/scangate/terminal.toml")   # ConfigError names the bad key

``tables`` reads typed values, ``sources`` the ``[[sources]]`` tables, ``model`` holds
the dataclasses and ``load`` puts them together (docs/operations.md lists every key).
``preflight`` checks the machine for a loaded configuration (files, keys, backends):
``scangate run`` and ``scangate config check`` both call it, so they agree.
The configuration imports the parts whose options it validates; no part imports it.
"""

from device.config.load import load_config, parse_config, secret_warnings
from device.config.model import (
    DaemonConfig,
    JournalConfig,
    ScreenConfig,
    SourceSpec,
    TrustConfig,
)
from device.config.preflight import Preflight, preflight

__all__ = [
    "DaemonConfig",
    "JournalConfig",
    "Preflight",
    "ScreenConfig",
    "SourceSpec",
    "TrustConfig",
    "load_config",
    "parse_config",
    "preflight",
    "secret_warnings",
]
