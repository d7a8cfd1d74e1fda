"""Camera backends, found by name through the ``scangate.cameras`` entry points.

A camera backend is a class built as ``cls(device=..., width=..., height=..., fps=...)``
(construction must not touch the hardware, but raises BackendError when the library it
needs is missing) with the methods of ``Camera``.
"""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol

from device.decode.base import Frame
from device.errors import BackendError

GROUP = "scangate.cameras"


class Camera(Protocol):
    """One camera. Used from one thread (the capture thread) only."""

    def open(self) -> None:
        """Open the device; raises SourceError (or BackendError) when it cannot."""
        ...

    def read(self) -> Frame | None:
        """The next frame, blocking about one frame period. ``None``: no frame this time.
        Raises SourceError when the device has gone."""
        ...

    def close(self) -> None:
        """Release the device. Safe to call twice or after a failed open."""
        ...


def camera_names() -> list[str]:
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def load_camera_class(name: str) -> Any:
    """The camera backend class registered as ``name``; raises BackendError."""
    matches = [ep for ep in entry_points(group=GROUP) if ep.name == name]
    if not matches:
        raise BackendError(
            f"unknown camera backend {name!r}; available: {', '.join(camera_names()) or 'none'}"
        )
    try:
        return matches[0].load()
    except ImportError as exc:
        raise BackendError(f"camera backend {name!r} cannot load here: {exc}") from exc
