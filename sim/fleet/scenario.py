"""Fleet scenarios: TOML files under ``sim/scenarios/`` (or any path), validated on load.

A scenario describes one operating day compressed into ``[day] length_s`` virtual
seconds: the load (per-gate arrival curve, peaks, surges, code mix), the centre
(capacity, queue, outages, trust-list publications), the scangate terminals' uplink
settings and the naive baselines' settings. Every key is documented in docs/fleet.md;
every error is one line naming the file, the key, the value and what is allowed.

Times inside the day are story hours (``8.5`` = 08:30) between ``start_h`` and
``end_h``; ``Day.at(h)`` maps them to virtual seconds.
"""

from __future__ import annotations

import itertools
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from device.config.tables import Table
from device.decide.policy import SitePolicy
from device.errors import ConfigError
from device.uplink.config import UplinkConfig
from sim.errors import ScenarioError

#: The kinds of code a person shows, and what the gate must answer (reason).
CODE_KINDS: dict[str, str] = {
    "green": "ok",
    "yellow": "status_yellow",
    "red": "status_red",
    "expired": "expired",
    "forged": "bad_signature",
    "replayed": "replayed",
    "eu_dcc": "ok",
}
OUTAGE_KINDS = ("down", "blackhole", "partition")
#: UplinkConfig fields a scenario may set for the scangate terminals.
UPLINK_KEYS = ("batch_size", "batch_interval_s", "backoff_base_s", "backoff_cap_s",
               "heartbeat_interval_s", "trust_poll_interval_s", "timeout_s",
               "retry_after_max_s")
#: Where the simulated terminals think the centre is (never contacted: in-process).
SIM_BASE_URL = "http://127.0.0.1:8443"


@dataclass(frozen=True)
class Day:
    """The story day [start_h, end_h) compressed into ``length_s`` virtual seconds."""

    start_h: float = 5.0
    end_h: float = 23.0
    length_s: float = 1800.0
    tail_s: float = 900.0  # virtual seconds after the day: backlogs drain, nothing arrives

    @property
    def seconds_per_hour(self) -> float:
        return self.length_s / (self.end_h - self.start_h)

    @property
    def total_s(self) -> float:
        return self.length_s + self.tail_s

    def at(self, hour: float) -> float:
        """Virtual seconds from the start of the day for story hour ``hour``."""
        return (hour - self.start_h) * self.seconds_per_hour

    def hour(self, t: float) -> float:
        """The story hour at virtual second ``t`` (beyond end_h during the tail)."""
        return self.start_h + t / self.seconds_per_hour


@dataclass(frozen=True)
class Peak:
    at_h: float
    width_h: float
    weight: float


@dataclass(frozen=True)
class Window:
    from_h: float
    to_h: float


@dataclass(frozen=True)
class Surge(Window):
    factor: float = 1.0


@dataclass(frozen=True)
class Outage(Window):
    kind: str = "down"


@dataclass(frozen=True)
class Load:
    scans_per_terminal: float = 40.0  # mean per terminal over the day, before surges
    base: float = 0.3  # rate outside the peaks, relative to a peak of weight 1
    peaks: tuple[Peak, ...] = ()
    surges: tuple[Surge, ...] = ()
    busyness_sigma: float = 0.5  # log-normal spread of per-gate rates (mean 1)
    mix: tuple[tuple[str, float], ...] = (("green", 1.0),)
    replay_delay_s: tuple[float, float] = (2.0, 20.0)


@dataclass(frozen=True)
class Centre:
    headroom: float = 1.5  # capacity = headroom x the normal-day peak of naive_online load
    burst_s: float = 1.0
    queue_limit_s: float = 30.0
    retry_after_s: float = 10.0
    latency_ms: float = 40.0
    record_cost: float = 0.01
    outages: tuple[Outage, ...] = ()
    trust_updates_h: tuple[float, ...] = ()


@dataclass(frozen=True)
class Naive:
    retry_interval_s: float = 5.0
    timeout_s: float = 10.0
    batch_size: int = 1  # one record per request: no batching (that is scangate's)
    max_in_flight: int = 1  # requests at a time per terminal (1: a plain outbox loop)
    heartbeat_interval_s: float = 60.0
    trust_poll_interval_s: float = 300.0
    online_timeout_s: float = 5.0
    online_attempts: int = 2
    rescan_s: float = 1.0


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str = ""
    date: str = ""
    terminals: int = 250
    boot_spread_s: float = 60.0
    day: Day = field(default_factory=Day)
    load: Load = field(default_factory=Load)
    centre: Centre = field(default_factory=Centre)
    naive: Naive = field(default_factory=Naive)
    uplink: tuple[tuple[str, Any], ...] = ()
    policy: SitePolicy = field(default_factory=SitePolicy)
    source: str = ""

    def uplink_config(self, terminal_id: str) -> UplinkConfig:
        # Plain http to loopback, allowed for the simulator only: the transport is
        # in-process, nothing is ever sent (TLS would be the httpx client's business).
        return UplinkConfig(base_url=SIM_BASE_URL, terminal_id=terminal_id, token="fleet",
                            allow_insecure_http=True, **dict(self.uplink))

    def disruptions(self) -> list[Window]:
        """Outages and surges, in time order: what the centre recovers from."""
        return sorted([*self.centre.outages, *self.load.surges], key=lambda w: w.from_h)

    def recovery_h(self) -> float | None:
        """When the last disruption ends (outage or surge), or None on a quiet day."""
        ends = [w.to_h for w in self.disruptions()]
        return max(ends) if ends else None


def builtin_dir() -> Path:
    return Path(str(resources.files("sim"))) / "scenarios"


def builtin_names() -> list[str]:
    return sorted(p.stem for p in builtin_dir().glob("*.toml"))


def resolve(name_or_path: str) -> Path:
    """A built-in scenario name (``xian-2022-01-04``) or a path to a TOML file."""
    candidate = builtin_dir() / f"{name_or_path}.toml"
    if "/" not in name_or_path and not name_or_path.endswith(".toml") and candidate.exists():
        return candidate
    path = Path(name_or_path)
    if path.exists():
        return path
    raise ScenarioError(f"scenario {name_or_path!r}: no such file and not a built-in scenario "
                        f"(built-in: {', '.join(builtin_names())})")


def load(name_or_path: str) -> Scenario:
    """Read and validate a scenario; ``ScenarioError`` (one line) when it is not usable."""
    path = resolve(name_or_path)
    where = path.name if path.parent == builtin_dir() else str(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"scenario {where}: cannot read it ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise ScenarioError(f"scenario {where}: not UTF-8 text ({exc.reason})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"scenario {where}: not valid TOML ({exc})") from exc
    try:
        return parse(data, source=where, default_name=path.stem)
    except ConfigError as exc:
        raise ScenarioError(f"scenario {where}: {exc}") from exc


def parse(data: dict[str, Any], *, source: str = "<dict>", default_name: str = "scenario"
          ) -> Scenario:
    """A ``Scenario`` from parsed TOML; ``ConfigError`` naming the key on any problem."""
    top = Table(data, "", Path("."))
    name = top.str_("name", default_name)
    description = top.str_("description", "", nonempty=False)
    date = top.str_("date", "", nonempty=False)
    terminals = top.int_("terminals", 250, lo=1, hi=1_000_000)
    boot_spread_s = top.num("boot_spread_s", 60.0, lo=0.0, hi=86_400)
    day = _day(top.sub("day"))
    load_ = _load(top.sub("load"), day)
    centre = _centre(top.sub("centre"), day)
    naive = _naive(top.sub("naive"))
    uplink = _uplink(top.sub("uplink"))
    policy = _policy(top.sub("policy"))
    top.done()
    scenario = Scenario(name=name, description=description, date=date, terminals=terminals,
                        boot_spread_s=boot_spread_s, day=day, load=load_, centre=centre,
                        naive=naive, uplink=uplink, policy=policy, source=source)
    scenario.uplink_config("check")  # the real UplinkConfig validation
    return scenario


def _day(t: Table) -> Day:
    start = t.num("start_h", 5.0, lo=0.0, hi=24.0)
    end = t.num("end_h", 23.0, lo=0.0, hi=24.0)
    if end <= start:
        raise ConfigError(f"day.end_h = {end:g}: must be after day.start_h = {start:g}")
    day = Day(start_h=start, end_h=end,
              length_s=t.num("length_s", 1800.0, lo=60.0, hi=7 * 86_400),
              tail_s=t.num("tail_s", 900.0, lo=0.0, hi=7 * 86_400))
    t.done()
    return day


def _hour(t: Table, name: str, day: Day, default: Any = None) -> float:
    value = t.num(name, default) if default is not None else t.num(name)
    if not day.start_h <= value <= day.end_h:
        raise ConfigError(f"{t.key(name)} = {value:g}: must be within the day "
                          f"({day.start_h:g}..{day.end_h:g})")
    return value


def _items(t: Table, name: str) -> list[Table]:
    raw = t.raw(name, [])
    if not isinstance(raw, list):
        raise ConfigError(f"{t.key(name)} = {raw!r}: must be an array of tables")
    return [Table(item, f"{t.key(name)}[{i}]", t.base_dir) for i, item in enumerate(raw)]


def _window(t: Table, day: Day) -> tuple[float, float]:
    lo, hi = _hour(t, "from_h", day), _hour(t, "to_h", day)
    if hi <= lo:
        raise ConfigError(f"{t.key('to_h')} = {hi:g}: must be after from_h = {lo:g}")
    return lo, hi


def _load(t: Table, day: Day) -> Load:
    peaks = []
    for p in _items(t, "peaks"):
        peaks.append(Peak(at_h=_hour(p, "at_h", day), width_h=p.num("width_h", lo=0.05, hi=24),
                          weight=p.num("weight", 1.0, lo=0.0, hi=1000)))
        p.done()
    surges = []
    for s in _items(t, "surges"):
        lo, hi = _window(s, day)
        surges.append(Surge(from_h=lo, to_h=hi, factor=s.num("factor", lo=0.0, hi=1000)))
        s.done()
    mix_table = t.sub("mix")
    mix: list[tuple[str, float]] = []
    for kind in mix_table.data:
        if kind not in CODE_KINDS:
            raise ConfigError(f"{mix_table.key(kind)}: unknown code kind (allowed: "
                              f"{', '.join(CODE_KINDS)})")
        mix.append((kind, mix_table.num(kind, lo=0.0, hi=1e6)))
    mix_table.done()
    if not mix:
        mix = [("green", 1.0)]
    total = sum(w for _, w in mix)
    if total <= 0:
        raise ConfigError(f"{mix_table.key('*')}: the weights of the code mix add up to 0")
    if sum(w for k, w in mix if k != "replayed") <= 0:
        raise ConfigError(f"{mix_table.key('replayed')}: a mix of only replays has nothing to "
                          "replay")
    delay = t.raw("replay_delay_s", [2.0, 20.0])
    if (not isinstance(delay, list) or len(delay) != 2
            or not all(isinstance(x, int | float) and not isinstance(x, bool) for x in delay)
            or not 0 < delay[0] <= delay[1] <= 3600):
        raise ConfigError(f"{t.key('replay_delay_s')} = {delay!r}: two numbers [min, max] "
                          "seconds, 0 < min <= max <= 3600")
    out = Load(scans_per_terminal=t.num("scans_per_terminal", 40.0, lo=0.0, hi=1e6),
               base=t.num("base", 0.3, lo=0.0, hi=1000),
               peaks=tuple(peaks), surges=tuple(surges),
               busyness_sigma=t.num("busyness_sigma", 0.5, lo=0.0, hi=3.0),
               mix=tuple((k, w / total) for k, w in mix),
               replay_delay_s=(float(delay[0]), float(delay[1])))
    if out.base == 0 and not any(p.weight > 0 for p in peaks):
        raise ConfigError(f"{t.key('base')} = 0 with no peak: nobody ever comes")
    t.done()
    return out


def _centre(t: Table, day: Day) -> Centre:
    outages = []
    for o in _items(t, "outages"):
        lo, hi = _window(o, day)
        outages.append(Outage(from_h=lo, to_h=hi, kind=o.str_("kind", choices=OUTAGE_KINDS)))
        o.done()
    outages.sort(key=lambda o: o.from_h)
    for a, b in itertools.pairwise(outages):
        if b.from_h < a.to_h:
            raise ConfigError(f"{t.key('outages')}: windows {a.from_h:g}-{a.to_h:g} and "
                              f"{b.from_h:g}-{b.to_h:g} overlap")
    updates = t.raw("trust_updates_h", [])
    if not isinstance(updates, list) or not all(
            isinstance(h, int | float) and not isinstance(h, bool)
            and day.start_h <= h <= day.end_h for h in updates):
        raise ConfigError(f"{t.key('trust_updates_h')} = {updates!r}: a list of story hours "
                          f"within the day ({day.start_h:g}..{day.end_h:g})")
    out = Centre(headroom=t.num("headroom", 1.5, lo=0.01, hi=1e6, lo_open=True),
                 burst_s=t.num("burst_s", 1.0, lo=0.0, hi=3600),
                 queue_limit_s=t.num("queue_limit_s", 30.0, lo=0.0, hi=3600),
                 retry_after_s=t.num("retry_after_s", 10.0, lo=0.0, hi=3600),
                 latency_ms=t.num("latency_ms", 40.0, lo=0.0, hi=60_000),
                 record_cost=t.num("record_cost", 0.01, lo=0.0, hi=100),
                 outages=tuple(outages),
                 trust_updates_h=tuple(sorted(float(h) for h in updates)))
    t.done()
    return out


def _naive(t: Table) -> Naive:
    out = Naive(retry_interval_s=t.num("retry_interval_s", 5.0, lo=0.01, hi=86_400),
                timeout_s=t.num("timeout_s", 10.0, lo=0.01, hi=3600),
                batch_size=t.int_("batch_size", 1, lo=1, hi=100_000),
                max_in_flight=t.int_("max_in_flight", 1, lo=1, hi=10_000),
                heartbeat_interval_s=t.num("heartbeat_interval_s", 60.0, lo=0.01, hi=86_400),
                trust_poll_interval_s=t.num("trust_poll_interval_s", 300.0, lo=0.01,
                                            hi=86_400),
                online_timeout_s=t.num("online_timeout_s", 5.0, lo=0.01, hi=3600),
                online_attempts=t.int_("online_attempts", 2, lo=1, hi=100),
                rescan_s=t.num("rescan_s", 1.0, lo=0.0, hi=3600))
    t.done()
    return out


def _uplink(t: Table) -> tuple[tuple[str, Any], ...]:
    out = []
    for key in t.data:
        if key not in UPLINK_KEYS:
            raise ConfigError(f"{t.key(key)}: unknown key (allowed in uplink: "
                              f"{', '.join(UPLINK_KEYS)})")
        value = t.int_(key, lo=1, hi=100_000) if key == "batch_size" else t.num(key)
        out.append((key, value))
    t.done()
    return tuple(out)


def _policy(t: Table) -> SitePolicy:
    policy = SitePolicy(accept_yellow=t.bool_("accept_yellow", False),
                        anti_passback_s=t.num("anti_passback_s", 300.0, lo=0.0, hi=86_400))
    t.done()
    return policy
