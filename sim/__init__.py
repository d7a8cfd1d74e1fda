"""Simulated hardware and a stand-in central engine for scangate.

Uses ``device``; ``device`` never imports this package (it finds the backends here
by name through entry points).
"""
