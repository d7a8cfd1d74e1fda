"""Faults the stand-in central engine injects, switched on and off at runtime.

    server.faults.set("503", retry_after="2")          # every request until cleared
    server.faults.set("partition", endpoint="upload", times=1)
    server.faults.set("partition", rate=0.2)            # one request in five, at random
    server.faults.add("500", times=2); server.faults.add("reset", times=1)  # in order
    server.faults.add_spec("503:0.5,retry_after=2,endpoint=upload")  # the CLI's form
    server.faults.clear()

From outside the process: ``scangate sim central --fault partition:0.2`` (repeatable)
and the admin API (``POST /admin/faults``, ``sim/central/admin.py``); both take the
spec form parsed by ``parse_spec``: ``KIND[:RATE][,key=value...]`` with keys
``endpoint``, ``times``, ``rate``, ``retry_after``, ``delay_s``, ``code``.

Kinds:
    down       connection reset as soon as it is accepted, and on any request on an
               existing keep-alive connection (the centre is gone)
    slow       the request is processed after ``delay_s`` (clients time out; the
               centre still finishes the work, as a real overloaded centre does)
    500        HTTP 500, nothing processed
    503, 429   HTTP 503 / 429, nothing processed, ``Retry-After: <retry_after>`` if given
    truncate   processed and stored, then half of the response is sent and the
               connection closed (Content-Length promised more)
    reset      the request is read, nothing processed, the connection reset (RST)
    partition  processed and STORED, then the connection is reset without a response:
               the terminal cannot know the batch arrived
    status     answer HTTP ``code`` (e.g. 400, 401, 413), nothing processed

``rate`` (0 < rate <= 1): each matching request (for ``down``: each connection and each
request on a kept-alive one) gets the fault with that probability; one that does not is
passed to the next active fault, or served normally. ``times`` counts the faults
actually injected. The random draws come from ``Faults(seed=...)``: reproducible.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass
from typing import Any, TypedDict, Unpack

from sim.errors import ScenarioError

KINDS = frozenset(
    {"down", "slow", "500", "503", "429", "truncate", "reset", "partition", "status"}
)
ENDPOINTS = frozenset({"upload", "heartbeat", "trust-list", "enrolment", "cacerts",
                       "reenrolment", "trust-root", "identity", "retire"})


@dataclass
class Fault:
    kind: str
    endpoint: str | None = None  # None: every endpoint
    times: int | None = None  # None: until cleared
    retry_after: str | None = None  # for 503/429: "<seconds>" or an HTTP-date
    delay_s: float = 2.0  # for slow
    code: int = 400  # for status
    rate: float | None = None  # None: every matching request; else this probability

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class FaultOptions(TypedDict, total=False):
    """The options of ``Faults.set`` and ``Faults.add`` (defaults as in ``Fault``)."""

    endpoint: str | None
    times: int | None
    retry_after: str | int | None
    delay_s: float
    code: int
    rate: float | None


OPTION_TYPES: dict[str, type] = {"endpoint": str, "times": int, "retry_after": str,
                                 "delay_s": float, "code": int, "rate": float}


def parse_spec(text: str) -> tuple[str, FaultOptions]:
    """``"partition:0.2"``, ``"503:0.5,retry_after=2,endpoint=upload"``, ``"slow,delay_s=3"``
    -> (kind, options). ScenarioError says what is wrong."""
    parts = [p.strip() for p in text.strip().split(",")]
    head = parts[0]
    kind, _, rate = head.partition(":")
    options: dict[str, Any] = {}
    if rate:
        options["rate"] = rate
    for part in parts[1:]:
        key, eq, value = part.partition("=")
        key = key.strip()
        if not eq or key not in OPTION_TYPES:
            raise ScenarioError(
                f"fault {text!r}: {part!r} is not key=value with a key of "
                f"{', '.join(OPTION_TYPES)} (form: KIND[:RATE][,key=value...])")
        options[key] = value.strip()
    out: dict[str, Any] = {}
    for key, value in options.items():
        try:
            out[key] = OPTION_TYPES[key](value)
        except ValueError:
            raise ScenarioError(f"fault {text!r}: {key} = {value!r} is not a number") from None
    return kind.strip(), FaultOptions(**out)  # type: ignore[typeddict-item]


def options_from_json(doc: Any) -> tuple[str, FaultOptions]:
    """A fault as the admin API takes it: a spec string or an object with ``kind`` and
    the options. ScenarioError for anything else."""
    if isinstance(doc, str):
        return parse_spec(doc)
    if not isinstance(doc, dict) or not isinstance(doc.get("kind"), str):
        raise ScenarioError(f"a fault is a spec string or an object with a 'kind': {doc!r}")
    unknown = sorted(set(doc) - {"kind"} - set(OPTION_TYPES))
    if unknown:
        raise ScenarioError(f"fault {doc['kind']!r}: unknown option(s) {unknown}; "
                            f"known: {', '.join(OPTION_TYPES)}")
    out: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "kind" or value is None:
            continue
        want = OPTION_TYPES[key]
        if want is float and isinstance(value, int | float) and not isinstance(value, bool):
            out[key] = float(value)
        elif want is int and isinstance(value, int) and not isinstance(value, bool):
            out[key] = value
        elif want is str and isinstance(value, str | int) and not isinstance(value, bool):
            out[key] = str(value)
        else:
            raise ScenarioError(f"fault {doc['kind']!r}: {key} = {value!r} is not a "
                                f"{want.__name__}")
    return doc["kind"], FaultOptions(**out)  # type: ignore[typeddict-item]


class Faults:
    """A thread-safe ordered list of active faults; the first one that matches is used."""

    def __init__(self, *, seed: int | None = None) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rng = random.Random(seed)
        self.injected: dict[str, int] = {}

    def _make(
        self,
        kind: str,
        *,
        endpoint: str | None = None,
        times: int | None = None,
        retry_after: str | int | None = None,
        delay_s: float = 2.0,
        code: int = 400,
        rate: float | None = None,
    ) -> Fault:
        if kind not in KINDS:
            raise ScenarioError(f"unknown central fault {kind!r}; known: {sorted(KINDS)}")
        if endpoint is not None and endpoint not in ENDPOINTS:
            raise ScenarioError(f"unknown endpoint {endpoint!r}; known: {sorted(ENDPOINTS)}")
        if times is not None and times < 1:
            raise ScenarioError("fault times must be >= 1 (or None for until cleared)")
        if not 400 <= code <= 599:
            raise ScenarioError(f"fault status code {code}: must be 400..599")
        if rate is not None and not 0 < rate <= 1:
            raise ScenarioError(f"fault rate {rate}: must be > 0 and <= 1 (a probability)")
        if not 0 <= delay_s <= 3600:
            raise ScenarioError(f"fault delay_s {delay_s}: must be 0..3600")
        ra = str(retry_after) if retry_after is not None else None
        return Fault(kind, endpoint, times, ra, delay_s, code, rate)

    def set(self, kind: str, **options: Unpack[FaultOptions]) -> None:
        """Replace every active fault with this one."""
        fault = self._make(kind, **options)
        with self._lock:
            self._faults = [fault]

    def add(self, kind: str, **options: Unpack[FaultOptions]) -> None:
        """Append a fault after the active ones (used once the earlier ones are spent)."""
        fault = self._make(kind, **options)
        with self._lock:
            self._faults.append(fault)

    def add_spec(self, text: str) -> None:
        """Append a fault given in the spec form (``"partition:0.2"``, see the module doc)."""
        kind, options = parse_spec(text)
        self.add(kind, **options)

    def replace_all(self, faults: list[tuple[str, FaultOptions]]) -> None:
        """Replace the active faults with these, in order (all validated first)."""
        made = [self._make(kind, **options) for kind, options in faults]
        with self._lock:
            self._faults = made

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def active(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def _fires(self, fault: Fault) -> bool:
        return fault.rate is None or self._rng.random() < fault.rate

    def is_down(self) -> bool:
        """True when a ``down`` fault applies to this connection or request."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.kind == "down" and self._fires(fault):
                    self._spend(i, fault)
                    return True
            return False

    def _spend(self, i: int, fault: Fault) -> None:
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[i]

    def take(self, endpoint: str) -> Fault | None:
        """The fault to apply to one request on ``endpoint`` (consumes one use)."""
        with self._lock:
            for i, fault in enumerate(self._faults):
                if fault.kind == "down" or fault.endpoint not in (None, endpoint):
                    continue
                if not self._fires(fault):
                    continue
                self._spend(i, fault)
                self.injected[fault.kind] = self.injected.get(fault.kind, 0) + 1
                return fault
            return None

    def count_down(self) -> None:
        with self._lock:
            self.injected["down"] = self.injected.get("down", 0) + 1
