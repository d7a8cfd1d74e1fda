"""The exception tree of the simulator.

    device.errors.OperatorError
    └── SimError             base of everything ``sim`` raises on purpose
        └── ScenarioError    a scenario, scene or fault was asked for that cannot be made

``SimError`` derives from ``OperatorError`` so the ``scangate`` CLI's one error boundary
(``device.cli.main``, which never imports ``sim``) prints it as one line, also when it
comes from the sim camera backend loaded by name.
"""

from __future__ import annotations

from device.errors import OperatorError


class SimError(OperatorError):
    """Base class of every error the simulator raises on purpose."""


class ScenarioError(SimError, ValueError):
    """A scenario, scene or fault was asked for that cannot be made."""
