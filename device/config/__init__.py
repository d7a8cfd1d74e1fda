"""The terminal's configuration: one TOML file, validated at start into frozen dataclasses.

    from device.config import load_config
    cfg = load_config("/etc/scangate/terminal.toml")   # ConfigError names the bad key

``tables`` reads typed values, ``sources`` the ``[[sources]]`` tables, ``model`` holds
the dataclasses and ``load`` puts them together (docs/operations.md lists every key).
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

__all__ = [
    "DaemonConfig",
    "JournalConfig",
    "ScreenConfig",
    "SourceSpec",
    "TrustConfig",
    "load_config",
    "parse_config",
    "secret_warnings",
]
