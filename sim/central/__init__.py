"""The stand-in central engine (see docs/central-api.md)."""

from sim.central.faults import Fault, Faults
from sim.central.server import CentralPacing, CentralServer

__all__ = ["CentralPacing", "CentralServer", "Fault", "Faults"]
