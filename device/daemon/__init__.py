"""The terminal daemon: sources → dedupe → verify → site policy → journal → gate → screen.

``device.daemon.decision`` is the pure site policy; ``device.daemon.app`` wires the
parts into one asyncio process; ``device.daemon.notify`` talks to systemd.
"""
