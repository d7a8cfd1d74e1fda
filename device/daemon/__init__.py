"""The terminal daemon: sources → dedupe → verify → decide → journal → gate → screen.

``device.daemon.app`` wires the parts into one asyncio process; ``pipeline`` is the scan
path; ``status`` and ``metrics`` what it tells people and machines; ``notify`` talks to
systemd. The stages themselves live in their own packages (``device.verify``,
``device.decide``, ``device.journal``, ``device.gate``, ...).
"""
