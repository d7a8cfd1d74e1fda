"""The daemon's metrics on prometheus_client: one registry per daemon, parseable text."""

from __future__ import annotations

import prometheus_client
import pytest
from prometheus_client.parser import text_string_to_metric_families

from device.daemon.metrics import Registry


def _families(text: str) -> dict[str, prometheus_client.Metric]:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_counters_histograms_and_callback_gauges_render_as_prometheus_text() -> None:
    r = Registry()
    decisions = r.counter("scangate_decisions_total", "Decisions", labels=("decision", "reason"))
    errors = r.counter("scangate_journal_errors_total", "Errors")
    latency = r.histogram("scangate_decision_latency_ms", "Latency")
    backlog: list[float | None] = [None]
    r.gauge("scangate_sync_backlog_records", "Backlog", lambda: [((), backlog[0])])
    r.gauge("scangate_source_connected", "Inputs",
            lambda: [((("source", 'serial:/dev/tty"A"'),), 1.0)])
    decisions.inc(decision="accept", reason="ok")
    decisions.inc(decision="accept", reason="ok")
    latency.observe(3.0)
    fams = _families(r.render())
    assert fams["scangate_decisions"].type == "counter"
    [ok] = fams["scangate_decisions"].samples
    assert ok.labels == {"decision": "accept", "reason": "ok"} and ok.value == 2
    assert decisions.get(decision="accept", reason="ok") == 2
    assert [s.value for s in fams["scangate_journal_errors"].samples] == [0]  # 0, not absent
    assert errors.get() == 0
    assert fams["scangate_decision_latency_ms"].type == "histogram" and latency.count == 1
    assert fams["scangate_sync_backlog_records"].samples == []  # unknown yet: no sample
    backlog[0] = 4
    assert _families(r.render())["scangate_sync_backlog_records"].samples[0].value == 4
    # Label values are escaped by the library (a quote in a device path).
    assert fams["scangate_source_connected"].samples[0].labels == {
        "source": 'serial:/dev/tty"A"'}
    assert not any(n.endswith("_created") for n in fams)


def test_each_daemon_has_its_own_registry() -> None:
    a, b = Registry(), Registry()
    a.counter("scangate_scans_total", "Scans", labels=("source",)).inc(source="x")
    b.counter("scangate_scans_total", "Scans", labels=("source",))  # no clash
    assert "scangate_scans_total" in a.render() and 'source="x"' not in b.render()
    assert "scangate_scans_total" not in prometheus_client.generate_latest().decode()


def test_a_duplicate_name_is_refused() -> None:
    r = Registry()
    r.gauge("scangate_up", "Up", lambda: [((), 1.0)])
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        r.gauge("scangate_up", "Up again", lambda: [((), 1.0)])
