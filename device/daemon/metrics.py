"""A small Prometheus text-format registry (no dependency): counters, gauges, histograms.

Only the event loop thread updates it; ``render()`` is called from the /metrics handler
on the same loop, so no locking is needed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

Labels = tuple[tuple[str, str], ...]

#: Latency buckets in milliseconds (decision latency, decode time).
MS_BUCKETS = (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
    return "{" + inner + "}"


def _fmt_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class _Metric:
    kind = "untyped"

    def __init__(self, name: str, help_: str) -> None:
        self.name = name
        self.help = help_

    def samples(self) -> Iterable[tuple[str, Labels, float]]:  # pragma: no cover
        return ()

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} {self.kind}"]
        lines += [f"{n}{_fmt_labels(lb)} {_fmt_value(v)}" for n, lb, v in self.samples()]
        return lines


class Counter(_Metric):
    kind = "counter"

    def __init__(self, name: str, help_: str) -> None:
        super().__init__(name, help_)
        self.values: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self.values[key] = self.values.get(key, 0.0) + amount

    def get(self, **labels: str) -> float:
        return self.values.get(tuple(sorted(labels.items())), 0.0)

    def samples(self) -> Iterable[tuple[str, Labels, float]]:
        return [(self.name, k, v) for k, v in sorted(self.values.items())]


class Gauge(_Metric):
    """A gauge whose samples come from a callback at render time."""

    kind = "gauge"

    def __init__(self, name: str, help_: str,
                 read: Callable[[], Iterable[tuple[Labels, float | None]]]) -> None:
        super().__init__(name, help_)
        self.read = read

    def samples(self) -> Iterable[tuple[str, Labels, float]]:
        return [(self.name, lb, float(v)) for lb, v in self.read() if v is not None]


class Histogram(_Metric):
    kind = "histogram"

    def __init__(self, name: str, help_: str, buckets: tuple[float, ...] = MS_BUCKETS) -> None:
        super().__init__(name, help_)
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.count += 1
        self.sum += value
        for i, b in enumerate(self.buckets):
            if value <= b:
                self.counts[i] += 1

    def samples(self) -> Iterable[tuple[str, Labels, float]]:
        out: list[tuple[str, Labels, float]] = [
            (f"{self.name}_bucket", (("le", _fmt_value(b)),), float(c))
            for b, c in zip(self.buckets, self.counts, strict=True)]
        out.append((f"{self.name}_bucket", (("le", "+Inf"),), float(self.count)))
        out.append((f"{self.name}_sum", (), self.sum))
        out.append((f"{self.name}_count", (), float(self.count)))
        return out


class Registry:
    def __init__(self) -> None:
        self.metrics: list[_Metric] = []

    def add(self, metric: _Metric) -> _Metric:
        self.metrics.append(metric)
        return metric

    def counter(self, name: str, help_: str) -> Counter:
        c = Counter(name, help_)
        self.add(c)
        return c

    def histogram(self, name: str, help_: str,
                  buckets: tuple[float, ...] = MS_BUCKETS) -> Histogram:
        h = Histogram(name, help_, buckets)
        self.add(h)
        return h

    def gauge(self, name: str, help_: str,
              read: Callable[[], Iterable[tuple[Labels, float | None]]]) -> Gauge:
        g = Gauge(name, help_, read)
        self.add(g)
        return g

    def render(self) -> str:
        lines: list[str] = []
        for m in self.metrics:
            lines += m.render()
        return "\n".join(lines) + "\n"
