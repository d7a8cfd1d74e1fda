"""scangate terminal: the daemon and its parts (verifier, inputs, gate, journal, uplink).

``device`` never imports ``sim`` or ``provisioning``; it finds backends and command
groups by name through entry points (see ``setup.cfg``).
"""

__version__ = "0.1.0"
