"""The dependency rules of docs/architecture.md, enforced on the source.

Every ``import`` and ``from … import`` counts, function-local and ``TYPE_CHECKING``
ones included: a circle hidden inside a function is still a circle. ``from P import n``
depends on the module ``P.n`` when ``n`` is a submodule, on ``P`` otherwise; the
implicit import of a parent package (Python runs ``P/__init__`` before ``P.n``) is not
counted, or every re-exporting ``__init__`` would look like a circle.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("device", "sim", "provisioning")

#: device/ subpackages that are parts of the scan path or around it (the verify stage
#: and the decision must know none of them).
PARTS = ("daemon", "journal", "uplink", "gate", "web", "sources", "decode", "cli", "config")
#: Libraries of I/O and hardware the verify stage and the decision must not touch.
IO_LIBRARIES = ("httpx", "sqlite3", "sqlite_utils", "serial", "gpiozero", "aiohttp", "cv2",
                "numpy", "zxingcpp", "socket", "ssl")


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in OURS:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            out[module_name(path)] = path
    return out


MODULES = modules()


def _resolve(mod: str, path: Path, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = mod.split(".")
    if path.name != "__init__.py":
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(mod: str) -> Iterator[tuple[str, int]]:
    """(imported module, line) for every import statement of ``mod``."""
    path = MODULES[mod]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(mod, path, node)
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield (sub if sub in MODULES else target), node.lineno


def graph() -> dict[str, dict[str, int]]:
    """Our modules → our modules they import (with a line number for the message)."""
    g: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for mod in MODULES:
        for target, line in imports_of(mod):
            if target in MODULES and target != mod:
                g[mod].setdefault(target, line)
    return g


def cycles(g: dict[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in g:
        if root in index:
            continue
        work = [(root, iter(g[root]))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            advanced = False
            for nxt in it:
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(g.get(nxt, ()))))
                    advanced = True
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                comp = []
                while True:
                    w = stack.pop()
                    on_stack.discard(w)
                    comp.append(w)
                    if w == node:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def part_of(mod: str) -> str:
    """``device.verify.codecs.cbor`` → ``device.verify``; root modules stand alone."""
    parts = mod.split(".")
    return ".".join(parts[:2])


def violations(prefix: str, forbidden: Iterable[str]) -> list[str]:
    banned = tuple(forbidden)
    out = []
    for mod in MODULES:
        if mod != prefix and not mod.startswith(prefix + "."):
            continue
        for target, line in imports_of(mod):
            if any(target == b or target.startswith(b + ".") for b in banned):
                where = MODULES[mod]
                shown = where.relative_to(ROOT) if where.is_relative_to(ROOT) else where
                out.append(f"{shown}:{line} imports {target}")
    return out


# --------------------------------------------------------------------------- the rules


def test_the_layout_is_the_one_documented() -> None:
    for pkg in ("device.verify", "device.verify.codecs", "device.decide", "device.clock",
                "device.config", "device.sources", "device.decode", "device.gate",
                "device.journal", "device.uplink", "device.daemon", "device.web",
                "device.identity", "device.enrol"):
        assert pkg in MODULES, f"{pkg} is missing"
    root = sorted(m for m in MODULES if m.count(".") == 1 and not (
        (ROOT / m.replace(".", "/")).is_dir()) and m.startswith("device."))
    assert root == ["device.errors", "device.files"], (
        f"device/ root holds only what is shared: {root}")


def test_device_never_imports_sim_or_provisioning() -> None:
    assert violations("device", ("sim", "provisioning")) == []


@pytest.mark.parametrize("stage", ["device.verify", "device.decide"])
def test_verify_and_decide_know_no_part_and_no_io(stage: str) -> None:
    parts = [f"device.{p}" for p in PARTS]
    assert violations(stage, parts) == []
    assert violations(stage, IO_LIBRARIES) == []


def test_verify_does_not_know_the_decision() -> None:
    assert violations("device.verify", ("device.decide",)) == []


def test_journal_never_imports_the_uplink() -> None:
    assert violations("device.journal", ("device.uplink", "httpx")) == []


def test_identity_is_a_leaf_without_network() -> None:
    """The terminal's identity (key, certificate, files) knows no other part and does no
    network I/O: the daemon, the enrolment exchange and the uplink use it."""
    others = [f"device.{p}" for p in (*PARTS, "enrol", "verify", "decide")]
    assert violations("device.identity", others) == []
    assert violations("device.identity", ("httpx", "socket", "ssl", "aiohttp")) == []


def test_enrolment_stays_off_the_scan_path_parts() -> None:
    """Enrolment (vouchers, EST, renewal) never imports the daemon, the journal, the
    gate, the sources, the decision or the screen; the uplink never imports enrolment."""
    banned = [f"device.{p}" for p in ("daemon", "journal", "gate", "sources", "decode",
                                      "decide", "web", "cli", "config")]
    assert violations("device.enrol", banned) == []
    assert violations("device.uplink", ("device.enrol", "device.daemon",
                                        "device.identity")) == []


def test_no_import_circles_between_modules() -> None:
    found = cycles(graph())
    assert found == [], f"import circles: {found}"


def test_no_import_circles_between_parts() -> None:
    g: dict[str, set[str]] = {}
    for mod, targets in graph().items():
        if not mod.startswith("device"):
            continue
        src = part_of(mod)
        g.setdefault(src, set())
        for t in targets:
            if part_of(t) != src:
                g[src].add(part_of(t))
    found = cycles(g)
    assert found == [], f"circles between parts of device/: {found}"


# --------------------------------------------------------------------------- the checker


def test_the_checker_sees_circles_and_banned_imports(tmp_path: Path) -> None:
    """The rules above can fail: the checker finds a planted circle and a banned import."""
    assert cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert cycles({"a": ["b"], "b": []}) == []
    fake = tmp_path / "planted.py"
    fake.write_text("def f():\n    from device.journal import Journal\n    import httpx\n")
    MODULES["device.verify._planted_for_test"] = fake
    try:
        found = violations("device.verify", ["device.journal", "httpx"])
        assert [v.split(" imports ")[1] for v in found] == ["device.journal", "httpx"]
    finally:
        del MODULES["device.verify._planted_for_test"]
