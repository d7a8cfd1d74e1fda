"""The staff screen: a local web page served by the daemon (aiohttp), pushed over SSE.

``device.web.hub.Hub`` fans verdicts and status out to connected pages;
``device.web.server.ScreenServer`` serves the page, ``/events`` (Server-Sent Events),
``/api/status``, ``/healthz`` and ``/metrics``.
"""
