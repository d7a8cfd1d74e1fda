"""The stand-in central engine (see docs/central-api.md)."""

from sim.central.admin import AdminServer
from sim.central.ca import CentralCA
from sim.central.faults import Fault, Faults
from sim.central.pki import MintedToken, Provisioning, Refusal
from sim.central.server import CentralPacing, CentralServer

__all__ = ["AdminServer", "CentralCA", "CentralPacing", "CentralServer", "Fault", "Faults",
           "MintedToken", "Provisioning", "Refusal"]
