"""The fleet simulation behind ``scangate sim fleet`` (see docs/fleet.md).

vtime (virtual-time loop and clocks) · scenario (TOML scenarios) · load (arrivals) ·
codes (keys, trust lists, pooled codes) · centre (the centre model and its httpx
transport) · terminals (the scangate fleet: the project's own parts) · baselines (the
naive designs) · metrics (what is measured) · runner (processes, shards) · report
(report.json, report.html).
"""
