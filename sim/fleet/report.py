"""``report.json`` and a self-contained ``report.html`` (matplotlib PNGs as data URIs).

The JSON holds the scenario, the centre's parameters, ``fleets.<name>`` (see
``metrics.summarise``), the goals of docs/fleet.md evaluated on this run, downsampled
series for the plots, and the run's cost (wall time, memory). Everything except the
fields listed in ``measured_fields`` (wall time, memory, and gate latencies that were
measured on this machine rather than simulated) is a function of scenario, seed,
terminal count and shard count: the same inputs give the same report.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
from pathlib import Path
from typing import Any

from sim.fleet.context import Curve, capacity_rps
from sim.fleet.metrics import backlog, percentile, summarise
from sim.fleet.runner import FLEETS, RunOutput
from sim.fleet.scenario import Scenario

COLOURS = {"scangate": "#1b7f3b", "naive_online": "#c0392b", "naive_retry": "#d68910"}
LABELS = {"scangate": "scangate", "naive_online": "naive online (asks per scan)",
          "naive_retry": "naive store-and-forward"}
#: Summary fields that are measured on this machine, per fleet with measured latency.
MEASURED_LATENCY = ("stalled", "decision_p50_ms", "decision_p99_ms", "decision_p99_ms_outage",
                    "decision_p99_ms_normal", "decision_p99_outage_ratio")
GOALS = {
    "lost": "scangate: 0 lost",
    "duplicates": "scangate: 0 duplicates",
    "outage_p99": "scangate: decision p99 during the outage <= 1.1x the rest of the day",
    "amplification": "scangate: work amplification <= 1.05",
    "recovery_peak": "centre peak after recovery <= 0.2x naive_retry's",
    "online_stall": "naive_online stalls (decisions waiting > 1 s)",
}


def windows_s(scenario: Scenario) -> list[tuple[float, float]]:
    day = scenario.day
    return [(day.at(o.from_h), day.at(o.to_h)) for o in scenario.centre.outages]


def build(out: RunOutput) -> dict[str, Any]:
    sc = out.scenario
    day = sc.day
    rec_h = sc.recovery_h()
    recovery_s = day.at(rec_h) if rec_h is not None else None
    outages = windows_s(sc)
    fleets = {name: summarise(r, outages=outages, recovery_s=recovery_s, day_s=day.length_s)
              for name, r in out.fleets.items()}
    for name, r in out.fleets.items():
        fleets[name]["wall_s"] = round(r.wall_s, 2)
        fleets[name].update({k: _round(v) for k, v in r.extra.items()})
    curve = Curve(sc)
    measured = ["wall_s", "peak_rss_mb", "mb_per_terminal"]
    for name, r in out.fleets.items():
        measured += [f"fleets.{name}.wall_s", f"fleets.{name}.cpu_s",
                     f"fleets.{name}.files_mb_per_terminal"]
        if r.latency_measured:
            measured += [f"fleets.{name}.{k}" for k in MEASURED_LATENCY]
            measured.append(f"series.{name}.p50_ms")
            measured.append(f"series.{name}.p99_ms")
    measured.append("goals.outage_p99")
    sg = out.fleets.get("scangate")
    report: dict[str, Any] = {
        "scenario": sc.name,
        "scenario_source": sc.source,
        "description": sc.description,
        "date": sc.date,
        "seed": out.seed,
        "terminals": out.terminals,
        "shards": out.shards,
        "day": {"start_h": day.start_h, "end_h": day.end_h, "length_s": day.length_s,
                "tail_s": day.tail_s,
                "compression": round(3600.0 / day.seconds_per_hour, 2)},
        "load": {"scans": len(next(iter(out.fleets.values())).lat_t) if out.fleets else 0,
                 "scans_per_terminal_day": round(curve.total, 2),
                 "mix": dict(sc.load.mix),
                 "surges": [{"from_h": s.from_h, "to_h": s.to_h, "factor": s.factor}
                            for s in sc.load.surges]},
        "centre": {"capacity_rps": round(capacity_rps(sc, curve, out.terminals), 3),
                   "headroom": sc.centre.headroom, "burst_s": sc.centre.burst_s,
                   "queue_limit_s": sc.centre.queue_limit_s,
                   "retry_after_s": sc.centre.retry_after_s,
                   "latency_ms": sc.centre.latency_ms, "record_cost": sc.centre.record_cost,
                   "outages": [{"kind": o.kind, "from_h": o.from_h, "to_h": o.to_h}
                               for o in sc.centre.outages],
                   "trust_updates_h": list(sc.centre.trust_updates_h),
                   "recovery_h": rec_h, "recovery_s": recovery_s},
        "uplink": dict(sc.uplink),
        "naive": dict(vars(sc.naive)),
        "fleets": fleets,
        "goals": goals(fleets, has_outage=bool(outages), has_recovery=recovery_s is not None),
        "series": series(out, sc),
        "wall_s": round(out.wall_s, 2),
        "peak_rss_mb": round(out.peak_rss_mb, 1),
        "mb_per_terminal": (round(sg.build_mb_per_terminal
                                  + (sg.extra.get("files_mb_per_terminal") or 0.0), 4)
                            if sg is not None and sg.build_mb_per_terminal is not None
                            else None),
        "measured_fields": measured,
    }
    return report


def goals(f: dict[str, Any], *, has_outage: bool, has_recovery: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    sg, nr, no = f.get("scangate"), f.get("naive_retry"), f.get("naive_online")
    if sg is not None:
        out["lost"] = {"goal": GOALS["lost"], "value": sg["lost"], "met": sg["lost"] == 0}
        out["duplicates"] = {"goal": GOALS["duplicates"], "value": sg["duplicates"],
                             "met": sg["duplicates"] == 0}
        ratio = sg["decision_p99_outage_ratio"]
        out["outage_p99"] = {"goal": GOALS["outage_p99"], "value": ratio,
                             "met": (ratio <= 1.1) if ratio is not None else None}
        amp = sg["work_amplification"]
        out["amplification"] = {"goal": GOALS["amplification"], "value": amp,
                                "met": (amp <= 1.05) if amp is not None else None}
    if sg is not None and nr is not None and has_recovery:
        # Judged after an outage (after a surge the figure is shown, not judged: the
        # centre is still working off the surge's queue then).
        a, b = sg["centre_peak_rps_after_recovery"], nr["centre_peak_rps_after_recovery"]
        ratio = round(a / b, 3) if a is not None and b else None
        out["recovery_peak"] = {"goal": GOALS["recovery_peak"], "value": ratio,
                                "scangate": a, "naive_retry": b,
                                "met": (ratio <= 0.2) if ratio is not None and has_outage
                                else None}
    if no is not None:
        out["online_stall"] = {"goal": GOALS["online_stall"], "value": no["stalled"],
                               "met": no["stalled"] > 0 if has_outage or has_recovery
                               else None}
    return out


def plot_bin(total_s: float) -> int:
    return max(1, round(total_s / 360.0))


def series(out: RunOutput, sc: Scenario) -> dict[str, Any]:
    """Plot series in ``bin_s`` bins: mean rps, max queue, latency p50/p99, backlog."""
    bin_s = plot_bin(sc.day.total_s)
    any_r = next(iter(out.fleets.values()))
    n_bins = math.ceil(len(any_r.shed) / bin_s)
    t_h = [round(sc.day.hour(i * bin_s), 4) for i in range(n_bins)]
    data: dict[str, Any] = {"bin_s": bin_s, "t_h": t_h}
    for name, r in out.fleets.items():
        total = r.total_requests()
        rps = [_round(sum(total[i * bin_s:(i + 1) * bin_s]) / bin_s) for i in range(n_bins)]
        peak = [max(total[i * bin_s:(i + 1) * bin_s], default=0) for i in range(n_bins)]
        queue = [_round(max(r.queue[i * bin_s:(i + 1) * bin_s], default=0.0))
                 for i in range(n_bins)]
        level = backlog(r)
        back = [level[min(len(level) - 1, (i + 1) * bin_s - 1)] for i in range(n_bins)]
        buckets: list[list[float]] = [[] for _ in range(n_bins)]
        for t, ms in zip(r.lat_t, r.lat_ms, strict=True):
            buckets[min(n_bins - 1, int(t // bin_s))].append(ms)
        data[name] = {"rps": rps, "peak_rps": peak, "queue": queue, "backlog": back,
                      "p50_ms": [_round(percentile(b, 50)) for b in buckets],
                      "p99_ms": [_round(percentile(b, 99)) for b in buckets]}
    return data


def _round(x: Any, nd: int = 3) -> Any:
    return round(x, nd) if isinstance(x, float) else x


def deterministic(report: dict[str, Any]) -> dict[str, Any]:
    """The report without its ``measured_fields`` (what the same seed must reproduce)."""
    out = json.loads(json.dumps(report))
    for path in report.get("measured_fields", []):
        node = out
        parts = path.split(".")
        for p in parts[:-1]:
            node = node.get(p, {}) if isinstance(node, dict) else {}
        if isinstance(node, dict):
            node.pop(parts[-1], None)
    out.pop("measured_fields", None)
    return out


# -- plots ---------------------------------------------------------------------------


def _figures(report: dict[str, Any]) -> list[tuple[str, str, bytes]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["series"]
    t = s["t_h"]
    names = [n for n in FLEETS if n in s]
    figs: list[tuple[str, str, bytes]] = []

    def shade(ax: Any) -> None:
        for o in report["centre"]["outages"]:
            ax.axvspan(o["from_h"], o["to_h"], color="#888", alpha=0.18, lw=0)
        for u in report["load"]["surges"]:
            ax.axvspan(u["from_h"], u["to_h"], color="#e67e22", alpha=0.12, lw=0)
        ax.set_xlabel("story time (h)")
        ax.grid(alpha=0.3)

    def save(fig: Any, key: str, title: str) -> None:
        buf = io.BytesIO()
        fig.tight_layout()
        fig.savefig(buf, format="png", dpi=90)
        plt.close(fig)
        figs.append((key, title, buf.getvalue()))

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for n in names:
        ax.plot(t, s[n]["rps"], color=COLOURS[n], label=LABELS[n], lw=1.3)
    ax.axhline(report["centre"]["capacity_rps"], color="k", ls="--", lw=0.8,
               label="centre capacity")
    ax.set_ylabel("requests/s at the centre")
    ax.legend(fontsize=8, loc="upper left")
    shade(ax)
    save(fig, "rps", f"Centre requests/s ({s['bin_s']} s means; outage grey, surge orange)")

    fig, ax = plt.subplots(figsize=(9, 3.2))
    for n in names:
        ax.plot(t, s[n]["queue"], color=COLOURS[n], label=LABELS[n], lw=1.3)
    ax.set_ylabel("requests queued (max)")
    ax.legend(fontsize=8, loc="upper left")
    shade(ax)
    save(fig, "queue", "Centre queue")

    fig, ax = plt.subplots(figsize=(9, 3.6))
    for n in names:
        p50 = [v if v is not None else math.nan for v in s[n]["p50_ms"]]
        p99 = [v if v is not None else math.nan for v in s[n]["p99_ms"]]
        ax.plot(t, p99, color=COLOURS[n], lw=1.3, label=f"{LABELS[n]} p99")
        ax.plot(t, p50, color=COLOURS[n], lw=0.9, ls=":", label=f"{LABELS[n]} p50")
    ax.axhline(1000, color="k", ls="--", lw=0.8, label="1 s (stalled)")
    ax.set_yscale("log")
    ax.set_ylabel("gate decision latency (ms)")
    ax.legend(fontsize=7, loc="upper left", ncol=2)
    shade(ax)
    save(fig, "latency", "Gate decision latency p50 / p99")

    fig, ax = plt.subplots(figsize=(9, 3.2))
    for n in names:
        if any(s[n]["backlog"]):
            ax.plot(t, s[n]["backlog"], color=COLOURS[n], label=LABELS[n], lw=1.3)
    ax.set_ylabel("records not yet at the centre")
    ax.legend(fontsize=8, loc="upper left")
    shade(ax)
    save(fig, "backlog", "Backlog (decided, not yet stored at the centre)")

    rec_h = report["centre"]["recovery_h"]
    if rec_h is not None:
        fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5), sharex=True)
        lo = rec_h - 0.5
        hi = min(t[-1], rec_h + 3.0)
        for n in names:
            pts = [(x, y, b) for x, y, b in zip(t, s[n]["peak_rps"], s[n]["backlog"],
                                                strict=True) if lo <= x <= hi]
            if not pts:
                continue
            a1.plot([p[0] for p in pts], [p[1] for p in pts], color=COLOURS[n],
                    label=LABELS[n], lw=1.3)
            if any(p[2] for p in pts):
                a2.plot([p[0] for p in pts], [p[2] for p in pts], color=COLOURS[n], lw=1.3)
        for ax in (a1, a2):
            ax.axvline(rec_h, color="k", lw=0.8, ls="--")
            shade(ax)
        a1.set_ylabel("peak requests/s (1 s)")
        a1.legend(fontsize=8, loc="upper right")
        a2.set_ylabel("backlog (records)")
        save(fig, "drain", "Drain after recovery (dashed: the centre is back)")
    return figs


def summary_png(report: dict[str, Any]) -> bytes:
    """Two panels for the README: centre requests/s and gate latency p99, per fleet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = report["series"]
    t = s["t_h"]
    names = [n for n in FLEETS if n in s]
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 5.6), sharex=True)
    for n in names:
        a1.plot(t, s[n]["rps"], color=COLOURS[n], label=LABELS[n], lw=1.2)
        a2.plot(t, [v if v is not None else math.nan for v in s[n]["p99_ms"]],
                color=COLOURS[n], lw=1.2)
    a1.axhline(report["centre"]["capacity_rps"], color="k", ls="--", lw=0.8,
               label="centre capacity")
    a1.set_ylabel("centre requests/s")
    a1.legend(fontsize=8, loc="upper right")
    a2.axhline(1000, color="k", ls="--", lw=0.8)
    a2.set_yscale("log")
    a2.set_ylabel("gate latency p99 (ms)")
    a2.set_xlabel("story time (h)")
    for ax in (a1, a2):
        for o in report["centre"]["outages"]:
            ax.axvspan(o["from_h"], o["to_h"], color="#888", alpha=0.18, lw=0)
        ax.grid(alpha=0.3)
    a1.set_title(f"{report['scenario']}: {report['terminals']:,} terminals "
                 "(grey: centre outage)", fontsize=10)
    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=80)
    plt.close(fig)
    return buf.getvalue()


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    """Write report.json and report.html into ``directory`` (created)."""
    directory.mkdir(parents=True, exist_ok=True)
    json_path = directory / "report.json"
    json_path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n",
                         encoding="utf-8")
    html_path = directory / "report.html"
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path


def figure_png(report: dict[str, Any], key: str) -> bytes:
    for k, _title, png in _figures(report):
        if k == key:
            return png
    raise KeyError(key)


ROWS = (
    ("decisions", "decisions"),
    ("stalled", "stalled (> 1 s)"),
    ("failed", "turned away (no answer)"),
    ("decision_p99_ms", "decision p99 (ms)"),
    ("decision_p99_ms_normal", "p99 outside outages (ms)"),
    ("decision_p99_ms_outage", "p99 during outages (ms)"),
    ("centre_peak_rps", "centre peak req/s"),
    ("centre_peak_rps_after_recovery", "centre peak req/s after recovery"),
    ("centre_peak_to_mean", "centre peak / mean"),
    ("centre_shed_503", "503s (shed)"),
    ("client_timeouts", "client timeouts"),
    ("work_amplification", "work amplification"),
    ("drain_s", "drain after recovery (s)"),
    ("lost", "lost"),
    ("duplicates", "duplicates"),
)


def table_rows(report: dict[str, Any]) -> list[tuple[str, list[str]]]:
    names = [n for n in FLEETS if n in report["fleets"]]
    return [(label, [_fmt(report["fleets"][n].get(key)) for n in names]) for key, label in ROWS]


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:,.3g}" if abs(v) < 1000 else f"{v:,.0f}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def render_html(report: dict[str, Any]) -> str:
    e = html.escape
    names = [n for n in FLEETS if n in report["fleets"]]
    head = "".join(f"<th>{e(LABELS[n])}</th>" for n in names)
    body = "".join(f"<tr><td>{e(label)}</td>" + "".join(f"<td>{e(v)}</td>" for v in values)
                   + "</tr>" for label, values in table_rows(report))
    goal_rows = "".join(
        f"<tr><td>{e(g['goal'])}</td><td>{e(_fmt(g['value']))}</td>"
        f"<td class='{'ok' if g['met'] else ('na' if g['met'] is None else 'bad')}'>"
        f"{'met' if g['met'] else ('n/a' if g['met'] is None else 'NOT met')}</td></tr>"
        for g in report["goals"].values())
    imgs = "".join(
        f"<figure><img alt='{e(title)}' src='data:image/png;base64,"
        f"{base64.b64encode(png).decode('ascii')}'><figcaption>{e(title)}</figcaption></figure>"
        for _k, title, png in _figures(report))
    c = report["centre"]
    outages = ", ".join(f"{o['kind']} {o['from_h']:g}–{o['to_h']:g} h" for o in c["outages"])
    params = (f"{report['terminals']:,} terminals ({report['shards']} shard(s)), seed "
              f"{report['seed']}; story day {report['day']['start_h']:g}–"
              f"{report['day']['end_h']:g} h in {report['day']['length_s']:g} virtual s "
              f"(+{report['day']['tail_s']:g} s tail); {report['load']['scans']:,} scans; "
              f"centre {c['capacity_rps']:,.1f} req/s, queue limit {c['queue_limit_s']:g} s, "
              f"Retry-After {c['retry_after_s']:g} s; outages: {outages or 'none'}.")
    cost = (f"wall {report['wall_s']:g} s, peak RSS {report['peak_rss_mb']:g} MB"
            + (f", {report['mb_per_terminal']:.3f} MB per scangate terminal"
               if report.get("mb_per_terminal") is not None else ""))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>scangate fleet: {e(report['scenario'])}</title>
<style>
body{{font-family:system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;
color:#222}}
table{{border-collapse:collapse;margin:1rem 0}}td,th{{border:1px solid #ccc;padding:.25rem .6rem;
text-align:right}}td:first-child,th:first-child{{text-align:left}}
.ok{{color:#1b7f3b;font-weight:bold}}.bad{{color:#c0392b;font-weight:bold}}.na{{color:#888}}
figure{{margin:1rem 0}}img{{max-width:100%}}figcaption{{font-size:.9rem;color:#555}}
</style></head><body>
<h1>Fleet simulation: {e(report['scenario'])}</h1>
<p>{e(report['description'])}</p>
<p>{e(params)}</p>
<h2>Headline</h2>
<table><tr><th></th>{head}</tr>{body}</table>
<h2>Goals</h2>
<table><tr><th>goal</th><th>value</th><th></th></tr>{goal_rows}</table>
<h2>Plots</h2>
{imgs}
<p><small>Run cost: {e(cost)}. Decision latencies of scangate and naive_retry are measured
on this machine (verify + decide + journal); naive_online's are simulated waits on the
centre. See docs/fleet.md for the model and its parameters.</small></p>
</body></html>
"""
