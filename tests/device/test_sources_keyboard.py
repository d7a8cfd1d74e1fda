"""The keyboard-wedge source: input_event records through a named pipe (sim), framing on
Enter, Shift, half codes, unplug/replug."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from device.sources.config import KeyboardSourceConfig
from device.sources.factory import build_source
from device.sources.keyboard_wedge import KeyboardWedgeSource, KeyTranslator
from sim.keyboard_wedge import SimKeyboardWedge
from tests.device.sources_util import Collector, listening, wait_for

CODE = "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEX"


def run(scenario: Callable[[SimKeyboardWedge, Collector], Awaitable[None]]) -> KeyboardWedgeSource:
    sim = SimKeyboardWedge()

    async def main() -> KeyboardWedgeSource:
        source = build_source(KeyboardSourceConfig(device=sim.path, idle_timeout_s=0.1))
        assert isinstance(source, KeyboardWedgeSource)
        col = Collector(source)
        col.start()
        try:
            await wait_for(lambda: listening(source), 5, "reader open")
            await asyncio.wait_for(scenario(sim, col), 20)
        finally:
            await col.stop()
        return source

    try:
        return asyncio.run(main())
    finally:
        sim.close()


def test_typed_codes_with_shift_and_split_reads() -> None:
    async def scenario(sim: SimKeyboardWedge, col: Collector) -> None:
        sim.type(CODE)
        sim.type("sg1:lower+UPPER", split=7, delay_s=0.01)
        assert await col.wait_count(2) == [CODE.encode(), b"sg1:lower+UPPER"]

    src = run(scenario)
    st = src.status()
    assert st["scans"] == 2 and st["drops"] == {} and st["kind"] == "keyboard"
    assert st["grabbed"] is False  # a pipe cannot be grabbed; an evdev node is


def test_half_code_and_noise_dropped() -> None:
    async def scenario(sim: SimKeyboardWedge, col: Collector) -> None:
        sim.type("HC1:HALF-TYPED", enter=False)
        await asyncio.sleep(0.3)
        sim.type("x")  # a stray key and Enter
        sim.type(CODE)
        assert await col.wait_count(1) == [CODE.encode()]

    src = run(scenario)
    assert src.status()["drops"] == {"incomplete": 1, "noise": 1}


def test_unplug_and_replug() -> None:
    async def scenario(sim: SimKeyboardWedge, col: Collector) -> None:
        src = col.source
        sim.type("HC1:BEFORE")
        await col.wait_count(1)
        sim.unplug()
        await wait_for(lambda: not src.status()["connected"], 5, "disconnect noticed")
        sim.replug()
        await wait_for(lambda: listening(src), 10, "reopened")
        sim.type("HC1:AFTER")
        assert await col.wait_count(2) == [b"HC1:BEFORE", b"HC1:AFTER"]

    src = run(scenario)
    assert src.status()["disconnects"] == 1 and src.status()["reopens"] >= 1


def test_a_code_typed_across_a_reopen_is_dropped_not_decided() -> None:
    # The keyboard wedge shares the framer: the tail of a code typed while the node was
    # reopened (a restart, a replug) is dropped, the next code is read.
    sim = SimKeyboardWedge()

    async def main() -> tuple[list[bytes], dict[str, object]]:
        cfg = KeyboardSourceConfig(device=sim.path, idle_timeout_s=1.0)
        src = build_source(cfg)
        col = Collector(src)
        col.start()
        await wait_for(lambda: src.status()["connected"], 5, "reader open")
        sim.type(CODE[20:])  # the tail of a code the reader began before the open
        sim.type("HC1:NEXT")
        await col.wait_count(1)
        await asyncio.sleep(0.2)
        await col.stop()
        return col.payloads, src.status()

    try:
        got, st = asyncio.run(main())
    finally:
        sim.close()
    assert got == [b"HC1:NEXT"]
    assert st["drops"] == {"partial_at_open": 1}


def test_translator_counts_keys_without_a_character() -> None:
    t = KeyTranslator()
    assert t.event(1, 59, 1) == b""  # F1
    assert t.event(1, 30, 1) == b"a" and t.event(1, 30, 2) == b"a"  # press, autorepeat
    assert t.event(1, 30, 0) == b""
    assert t.event(1, 54, 1) == b"" and t.event(1, 30, 1) == b"A"  # right shift
    assert t.event(1, 96, 1) == b"\n"  # keypad Enter
    assert t.unmapped == 1
