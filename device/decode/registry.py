"""Decoder backends found by name through the ``scangate.decoders`` entry points."""

from __future__ import annotations

import logging
from importlib.metadata import entry_points
from typing import Any

from device.decode.base import Decoder
from device.errors import BackendError

log = logging.getLogger(__name__)

GROUP = "scangate.decoders"


def decoder_names() -> list[str]:
    """Names of the installed decoder backends."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_decoder(name: str, **options: Any) -> Decoder:
    """Build the decoder backend ``name`` (e.g. ``"zxing"``); raises BackendError."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        raise BackendError(
            f"unknown decoder backend {name!r}; available: {', '.join(decoder_names()) or 'none'}"
            " (is scangate installed? run `pip install -e .`)"
        )
    try:
        cls = matches[0].load()
    except ImportError as exc:
        raise BackendError(f"decoder backend {name!r} cannot load here: {exc}") from exc
    decoder: Decoder = cls(**options)
    log.debug("decoder backend %s loaded", name)
    return decoder
