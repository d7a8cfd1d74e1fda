"""Typed reading of one TOML table: every error names the key, the value and what is allowed."""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

from device.errors import ConfigError

T = TypeVar("T")
_MISSING: Any = object()


class Table:
    """One TOML table being read: typed getters that name the key in every error."""

    def __init__(self, data: Mapping[str, Any], prefix: str, base_dir: Path) -> None:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{prefix or 'top level'}: must be a table, got {data!r}")
        self.data = dict(data)
        self.prefix = prefix
        self.base_dir = base_dir
        self.used: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name

    def has(self, name: str) -> bool:
        return name in self.data

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        self.used.add(name)
        if name in self.data:
            return self.data[name]
        if default is _MISSING:
            raise ConfigError(f"{self.key(name)}: missing (required)")
        return default

    def _bad(self, name: str, value: Any, allowed: str) -> ConfigError:
        return ConfigError(f"{self.key(name)} = {value!r}: {allowed}")

    def str_(self, name: str, default: Any = _MISSING, *, choices: tuple[str, ...] = (),
             nonempty: bool = True) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if not isinstance(value, str) or (nonempty and not value):
            raise self._bad(name, value, "must be a non-empty string")
        if choices and value not in choices:
            raise self._bad(name, value, f"allowed: {', '.join(choices)}")
        return value

    def bool_(self, name: str, default: Any = _MISSING) -> bool:
        value = self.raw(name, default)
        if not isinstance(value, bool):
            raise self._bad(name, value, "must be true or false")
        return value

    def int_(self, name: str, default: Any = _MISSING, *, lo: int | None = None,
             hi: int | None = None) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._bad(name, value, "must be an integer")
        if (lo is not None and value < lo) or (hi is not None and value > hi):
            raise self._bad(name, value, f"must be between {lo} and {hi}")
        return value

    def num(self, name: str, default: Any = _MISSING, *, lo: float | None = None,
            hi: float | None = None, lo_open: bool = False) -> float:
        value = self.raw(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value
        ):
            raise self._bad(name, value, "must be a number")
        if lo is not None and (value < lo or (lo_open and value == lo)):
            raise self._bad(name, value, f"must be {'>' if lo_open else '>='} {lo}")
        if hi is not None and value > hi:
            raise self._bad(name, value, f"must be <= {hi}")
        return float(value)

    def pin(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 53:
            return value
        if isinstance(value, str) and value and len(value) <= 32:
            return value
        raise self._bad(name, value, "a BCM GPIO number 0..53 or a gpiozero pin name "
                        "such as \"GPIO17\" or \"BOARD11\"")

    def path(self, name: str, default: Any = _MISSING) -> Any:
        value = self.raw(name, default)
        if value is None and default is None:
            return None
        if isinstance(value, Path):
            return value
        if not isinstance(value, str) or not value:
            raise self._bad(name, value, "must be a file path (string)")
        p = Path(value).expanduser()
        return Path(os.path.normpath(p if p.is_absolute() else (self.base_dir / p)))

    def sub(self, name: str, *, required: bool = False) -> Table:
        value = self.raw(name, _MISSING if required else {})
        return Table(value, self.key(name), self.base_dir)

    def done(self) -> None:
        unknown = sorted(set(self.data) - self.used)
        if unknown:
            allowed = ", ".join(sorted(self.used))
            raise ConfigError(
                f"{self.key(unknown[0])}: unknown key (allowed in "
                f"{self.prefix or 'the top level'}: {allowed})"
            )


def wrap(key: str, build: Callable[[], T]) -> T:
    """Build another part's dataclass; its own ValueError becomes a ConfigError."""
    try:
        return build()
    except (TypeError, ValueError) as exc:  # ConfigError is a ValueError too
        msg = str(exc)
        raise ConfigError(msg if msg.startswith(key) else f"{key}: {msg}") from exc


