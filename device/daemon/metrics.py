"""The daemon's Prometheus metrics, on ``prometheus_client``, one registry per daemon.

    r = Registry()                                  # a CollectorRegistry of its own
    scans = r.counter("scangate_scans_total", "Payloads read", labels=("source",))
    scans.inc(source="serial:/dev/ttyACM0")
    r.histogram("scangate_verify_ms", "Verifier time, ms").observe(0.6)   # MS_BUCKETS
    r.gauge("scangate_up", "1 while the daemon runs", lambda: [((), 1.0)])  # read at scrape
    r.render()                                      # the text format, for /metrics

Counters and histograms are ``prometheus_client``'s own (thread-safe). Gauges are read
from callbacks when /metrics is scraped, through a custom collector: the status board
computes them from the daemon's parts (journal statistics, trust list, sources), so
nothing has to be kept in step. Each ``Daemon`` has its own ``CollectorRegistry``, never
the library's global one: tests and the simulator run several daemons in one process.
The ``*_created`` series (counter creation timestamps) are switched off: they would
double the series for nothing a terminal needs.

Cost, measured with bench/metrics.py on the 2-core dev machine under load (the figures
of the hand-written renderer this replaced, measured in the same session, in brackets):
the updates of one decision (a labelled counter, three histograms; each takes a lock)
18-27 us [11 us], 3-7 % of one ``Verifier.verify`` (~0.4-0.5 ms); a scrape of a
daemon-sized registry (~30 families, 165 lines) 2.4-3.5 ms [0.6 ms], on the event loop,
once per scrape interval (15 s or more). Neither moves the decision latency's p99
(docs/daemon.md), so the field-standard library wins over a format kept by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence

import prometheus_client
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

Labels = tuple[tuple[str, str], ...]
Read = Callable[[], Iterable[tuple[Labels, float | None]]]

#: Latency buckets in milliseconds (decision latency, decode time).
MS_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

prometheus_client.disable_created_metrics()


class Counter:
    """A counter with the label names given at creation; ``inc(**labels)``."""

    def __init__(self, name: str, help_: str, labels: Sequence[str],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self.labelnames = tuple(labels)
        self._metric = prometheus_client.Counter(name, help_, labelnames=self.labelnames,
                                                 registry=registry)
        self._registry = registry

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        if self.labelnames:
            self._metric.labels(**labels).inc(amount)
        else:
            self._metric.inc(amount)

    def get(self, **labels: str) -> float:
        sample = self.name if self.name.endswith("_total") else f"{self.name}_total"
        value = self._registry.get_sample_value(sample, labels)
        return float(value) if value is not None else 0.0


class Histogram:
    def __init__(self, name: str, help_: str, buckets: Sequence[float],
                 registry: CollectorRegistry) -> None:
        self.name = name
        self._metric = prometheus_client.Histogram(name, help_, buckets=tuple(buckets),
                                                   registry=registry)
        self._registry = registry

    def observe(self, value: float) -> None:
        self._metric.observe(value)

    @property
    def count(self) -> int:
        return int(self._registry.get_sample_value(f"{self.name}_count") or 0)


class _CallbackGauge(Collector):
    """A gauge whose samples ``read()`` gives at scrape time; ``None`` values are left
    out (unknown yet, e.g. the journal statistics before the first refresh)."""

    def __init__(self, name: str, help_: str, read: Read) -> None:
        self.name = name
        self.help = help_
        self.read = read

    def describe(self) -> list[Metric]:  # lets the registry refuse a duplicate name
        return [Metric(self.name, self.help, "gauge")]

    def collect(self) -> Iterator[Metric]:
        metric = Metric(self.name, self.help, "gauge")
        for labels, value in self.read():
            if value is not None:
                metric.add_sample(self.name, dict(labels), float(value))
        yield metric


class Registry:
    """The daemon's metrics: a ``prometheus_client.CollectorRegistry`` of its own."""

    def __init__(self) -> None:
        self.collectors = CollectorRegistry()

    def counter(self, name: str, help_: str, labels: Sequence[str] = ()) -> Counter:
        return Counter(name, help_, labels, self.collectors)

    def histogram(self, name: str, help_: str,
                  buckets: Sequence[float] = MS_BUCKETS) -> Histogram:
        return Histogram(name, help_, buckets, self.collectors)

    def gauge(self, name: str, help_: str, read: Read) -> None:
        self.collectors.register(_CallbackGauge(name, help_, read))

    def render(self) -> str:
        """The Prometheus text exposition format (version 0.0.4)."""
        return generate_latest(self.collectors).decode("utf-8")
