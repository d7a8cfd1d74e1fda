"""Pin factories by name, imported lazily (lgpio and RPi.GPIO exist only on a Pi)."""

from __future__ import annotations

import importlib
import logging
from typing import Any

from device.errors import BackendError

log = logging.getLogger(__name__)

#: name -> (module, class, hint shown when it cannot load)
PIN_FACTORIES: dict[str, tuple[str, str, str]] = {
    "lgpio": (
        "gpiozero.pins.lgpio",
        "LGPIOFactory",
        "install the 'lgpio' package (pip install 'scangate[pi]') on a Raspberry Pi; "
        "it is the factory for a Pi 5 and current kernels",
    ),
    "rpigpio": (
        "gpiozero.pins.rpigpio",
        "RPiGPIOFactory",
        "install RPi.GPIO on an older Raspberry Pi (it does not run on a Pi 5: use lgpio)",
    ),
    "mock": ("gpiozero.pins.mock", "MockFactory", "gpiozero is not installed"),
}


def make_pin_factory(name: str) -> Any:
    """A gpiozero pin factory by name; BackendError saying what to do if it cannot load."""
    try:
        module_name, class_name, hint = PIN_FACTORIES[name]
    except KeyError:
        allowed = ", ".join(sorted(PIN_FACTORIES))
        raise BackendError(f"unknown pin factory {name!r}; allowed: {allowed}") from None
    try:
        module = importlib.import_module(module_name)
        factory = getattr(module, class_name)()
    except Exception as exc:  # ImportError, or the library finds no GPIO chip
        raise BackendError(
            f"pin factory {name!r} cannot load here ({type(exc).__name__}: {exc}); {hint}; "
            "or set gate.pin_factory = \"mock\" for simulated hardware"
        ) from exc
    log.info("gate: pin factory %s", name)
    return factory
