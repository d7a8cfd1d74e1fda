"""``[[sources]]`` tables → the scan-input part's config dataclasses.

    [[sources]]
    type = "serial"            # or "camera"
    port = "/dev/ttyACM0"      # then any field of device.sources.config.SerialSourceConfig

    [[sources]]
    type = "keyboard"          # a USB HID keyboard-wedge reader (evdev): KeyboardSourceConfig
    device = "/dev/input/by-id/usb-...-event-kbd"

    [[sources]]
    type = "camera"
    backend = "opencv"         # fields of CameraSourceConfig; decoder defaults to [decoder]
    device = 0

Every key is checked against the dataclass's fields and their types here (so the
error names ``sources[i].key``); the dataclass then checks the values' ranges.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from device.config.model import SourceSpec
from device.config.tables import Table, wrap
from device.errors import ConfigError
from device.sources.config import (
    CameraSourceConfig,
    KeyboardSourceConfig,
    SerialSourceConfig,
)

SOURCE_KINDS = ("camera", "serial", "keyboard")
_CLASSES: dict[str, type] = {"camera": CameraSourceConfig, "serial": SerialSourceConfig,
                             "keyboard": KeyboardSourceConfig}
_REQUIRED = {"serial": ("port", "the reader's device, e.g. /dev/ttyACM0"),
             "keyboard": ("device", "the reader's event node, e.g. "
                          "/dev/input/by-id/usb-...-event-kbd")}


def _coerce(t: Table, name: str, value: Any, hint: Any) -> Any:
    args = set(typing.get_args(hint)) or {hint}
    optional = type(None) in args
    args.discard(type(None))
    if value is None and optional:
        return None
    if bool in args:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{t.key(name)} = {value!r}: must be true or false")
    if int in args and float not in args:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{t.key(name)} = {value!r}: must be an integer")
    if float in args:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{t.key(name)} = {value!r}: must be a number")
    if str in args:
        if isinstance(value, int) and not isinstance(value, bool) and name == "device":
            return str(value)  # camera index given as a number
        if isinstance(value, str):
            return value
        raise ConfigError(f"{t.key(name)} = {value!r}: must be a string")
    return value


def parse_source(t: Table, *, default_decoder: str = "zxing") -> SourceSpec:
    kind = t.str_("type", choices=SOURCE_KINDS)
    cls = _CLASSES[kind]
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kw: dict[str, Any] = {}
    for name, value in t.data.items():
        if name == "type":
            continue
        if name not in fields:
            raise ConfigError(
                f"{t.key(name)}: unknown key for a {kind} source (allowed: type, "
                f"{', '.join(sorted(fields))})"
            )
        t.used.add(name)
        kw[name] = _coerce(t, name, value, hints[name])
    if kind in _REQUIRED and _REQUIRED[kind][0] not in kw:
        key, hint = _REQUIRED[kind]
        raise ConfigError(f"{t.key(key)}: missing ({hint})")
    if kind == "camera":
        kw.setdefault("decoder", default_decoder)
    cfg = wrap(t.prefix, lambda: cls(**kw))
    return SourceSpec(kind=kind, options=dict(kw), config=cfg)
