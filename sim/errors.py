"""The exception tree of the simulator.

    SimError                 base of everything ``sim`` raises on purpose
    └── ScenarioError        a scenario, scene or fault was asked for that cannot be made
"""

from __future__ import annotations


class SimError(Exception):
    """Base class of every error the simulator raises on purpose."""


class ScenarioError(SimError, ValueError):
    """A scenario, scene or fault was asked for that cannot be made."""
