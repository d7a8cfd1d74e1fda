"""The serial framer, byte by byte (no I/O): terminators, idle gaps, limits, garbage."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.sources.serial_framing import Framer


def feed_all(f: Framer, chunks: list[bytes], t0: float = 0.0, gap: float = 0.001) -> list[bytes]:
    out: list[bytes] = []
    t = t0
    for c in chunks:
        out += f.feed(c, t)
        t += gap
    return out


@pytest.mark.parametrize("term", [b"\r\n", b"\r", b"\n"])
def test_terminator_frames(term: bytes) -> None:
    f = Framer(terminator=term)
    assert feed_all(f, [b"CODE-ONE" + term + b"CODE-TWO" + term]) == [b"CODE-ONE", b"CODE-TWO"]
    assert f.pending == 0


def test_crlf_keeps_lone_cr_and_lf_inside_code() -> None:
    f = Framer(terminator=b"\r\n")
    payload = b"HC1:AB\rCD\nEF\r"
    assert feed_all(f, [payload + b"\r\n"]) == [payload]


def test_crlf_split_across_reads() -> None:
    f = Framer(terminator=b"\r\n")
    assert feed_all(f, [b"CODE-1\r", b"\nCODE-2\r", b"\n"]) == [b"CODE-1", b"CODE-2"]


def test_no_terminator_frames_on_idle_gap() -> None:
    f = Framer(terminator=b"", idle_timeout_s=0.1)
    assert f.feed(b"CODE", 0.0) == []
    assert f.feed(b"-ONE", 0.05) == []
    assert f.tick(0.12) == []  # 0.07 s since the last byte: not idle yet
    assert f.tick(0.16) == [b"CODE-ONE"]
    # a new chunk after a gap ends the previous frame first
    assert f.feed(b"CODE-TWO", 1.0) == []
    assert f.feed(b"CODE-3", 2.0) == [b"CODE-TWO"]


def test_half_code_dropped_at_idle_when_terminator_expected() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1)
    assert f.feed(b"HC1:HALF-A-CODE", 0.0) == []
    assert f.tick(0.5) == []
    assert f.drops["incomplete"] == 1
    assert f.feed(b"HC1:WHOLE\r\n", 1.0) == [b"HC1:WHOLE"]


def test_noise_dropped() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1, min_length=4)
    assert f.feed(b"\x00\xff", 0.0) == []
    assert f.tick(0.5) == []
    assert f.feed(b"\x13\r\n", 1.0) == []
    assert f.feed(b"\r\n", 1.01) == []
    assert f.drops == {"noise": 2, "empty": 1}
    assert f.feed(b"GOOD\r\n", 2.0) == [b"GOOD"]


def test_max_length_and_discard_up_to_terminator() -> None:
    f = Framer(terminator=b"\r\n", max_length=10)
    assert f.feed(b"0123456789\r\n", 0.0) == [b"0123456789"]  # exactly max: kept
    assert f.feed(b"0123456789X", 0.001) == []
    assert f.feed(b"more of the long one\r\nNEXT\r\n", 0.002) == [b"NEXT"]
    assert f.drops["too_long"] == 1
    assert f.discarded_bytes == 11 + len(b"more of the long one")


def test_megabyte_flood_bounded_then_recovers() -> None:
    f = Framer(terminator=b"\r\n", max_length=8192, idle_timeout_s=0.1)
    t = 0.0
    for _ in range(256):
        assert f.feed(b"A" * 4096, t) == []
        assert f.pending <= 8192
        t += 0.001
    assert f.drops["too_long"] == 1
    assert f.tick(t + 1.0) == []  # the idle gap ends the flood
    assert f.feed(b"AFTER-FLOOD\r\n", t + 2.0) == [b"AFTER-FLOOD"]
    assert f.discarded_bytes == 1 << 20


def test_discarding_sees_crlf_split_across_reads() -> None:
    f = Framer(terminator=b"\r\n", max_length=4)
    assert feed_all(f, [b"TOOLONG\r", b"\nOKAY\r\n"]) == [b"OKAY"]


def test_reset_counts_pending_as_disconnected() -> None:
    f = Framer(terminator=b"\r\n")
    f.feed(b"HC1:PARTIAL", 0.0)
    f.reset("disconnected")
    assert f.drops["disconnected"] == 1
    assert f.feed(b"NEW1\r\n", 1.0) == [b"NEW1"]


def test_after_open_the_bytes_before_a_terminator_are_a_cut_tail() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1)
    f.opened(10.0)
    assert not f.in_sync
    # within the idle time of the open: the tail of a code cut by the restart
    assert f.feed(b"XIV0W23NTDEX\r\nHC1:NEXT\r\n", 10.02) == [b"HC1:NEXT"]
    assert f.in_sync and f.drops == {"partial_at_open": 1}


def test_after_open_a_quiet_line_makes_the_next_code_whole() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1)
    f.opened(10.0)
    assert f.tick(10.05) == [] and not f.in_sync
    assert f.tick(10.11) == [] and f.in_sync  # quiet for the idle time since the open
    assert f.feed(b"HC1:FRESH\r\n", 10.2) == [b"HC1:FRESH"]
    f.opened(20.0)
    assert f.tick(20.4) == [] and f.in_sync  # an empty read after the idle time
    assert f.feed(b"HC1:LATER\r\n", 20.5) == [b"HC1:LATER"]
    assert f.drops == {}


def test_after_open_bytes_read_late_are_still_a_possible_tail() -> None:
    # The reader thread was busy right after the open and reads 0.5 s later: the bytes may
    # have arrived at once (a cut code's tail), so only an empty read proves a quiet line.
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1)
    f.opened(0.0)
    assert f.feed(b"XIV0W23NTDEX\r\nHC1:NEXT\r\n", 0.5) == [b"HC1:NEXT"]
    assert f.drops == {"partial_at_open": 1}


def test_after_open_idle_framing_drops_the_tail_at_the_gap() -> None:
    f = Framer(terminator=b"", idle_timeout_s=0.1)
    f.opened(0.0)
    assert f.feed(b"TAIL-OF-A-CODE", 0.01) == []
    assert f.tick(0.2) == [] and f.drops == {"partial_at_open": 1}
    assert f.feed(b"HC1:WHOLE", 0.5) == []
    assert f.tick(0.7) == [b"HC1:WHOLE"]


def test_after_open_a_terminator_alone_or_an_overlong_tail_ends_the_sync() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1, max_length=8)
    f.opened(0.0)
    assert f.feed(b"\r\nHC1:ONE\r\n", 0.01) == [b"HC1:ONE"]  # just the cut code's CRLF
    f.opened(1.0)
    assert f.feed(b"A-VERY-LONG-TAIL\r\nHC1:TWO\r\n", 1.01) == [b"HC1:TWO"]
    assert f.drops == {"partial_at_open": 1, "too_long": 1}


def test_a_disconnect_during_the_sync_counts_the_tail() -> None:
    f = Framer(terminator=b"\r\n", idle_timeout_s=0.1)
    f.opened(0.0)
    f.feed(b"TAIL", 0.01)
    f.reset("disconnected")
    assert f.drops == {"partial_at_open": 1} and f.in_sync


@settings(max_examples=150, deadline=None)
@given(codes=st.lists(st.binary(min_size=4, max_size=60).filter(
           lambda b: b"\r" not in b and b"\n" not in b), min_size=2, max_size=6),
       cut=st.integers(min_value=0, max_value=10_000))
def test_a_stream_cut_anywhere_by_an_open_yields_only_whole_codes(codes: list[bytes],
                                                                 cut: int) -> None:
    """Whatever byte the open lands on, nothing but whole codes comes out: the partial
    one (if any) is dropped, and every code after it is read."""
    stream = b"".join(c + b"\r\n" for c in codes)
    at = cut % len(stream)
    f = Framer(terminator=b"\r\n", max_length=100, idle_timeout_s=0.1)
    f.opened(0.0)
    got = f.feed(stream[at:], 0.001)
    rest = stream[at:]
    # the codes that began after the cut; one that begins right at the open cannot be
    # told from a tail: it is dropped too
    assert got == rest.split(b"\r\n")[1:-1]
    if b"\r\n" in rest:
        assert f.drops == {"partial_at_open": 1} and f.in_sync
    else:  # the cut left only the LF of a CRLF: still waiting for a boundary
        assert f.drops == {} and f.pending == len(rest) and not f.in_sync


codes = st.lists(
    st.binary(min_size=4, max_size=60).filter(lambda b: b"\r\n" not in b and not b.endswith(b"\r")),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(codes=codes, cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_any_chunking_gives_the_same_codes(codes: list[bytes], cuts: list[int]) -> None:
    """Binary-safe CRLF framing is independent of how the bytes are split into reads."""
    stream = b"".join(c + b"\r\n" for c in codes)
    points = sorted({c % (len(stream) + 1) for c in cuts} | {0, len(stream)})
    chunks = [stream[a:b] for a, b in itertools.pairwise(points)]
    f = Framer(terminator=b"\r\n", max_length=100)
    assert feed_all(f, chunks) == codes


@settings(max_examples=150, deadline=None)
@given(data=st.binary(max_size=3000), chunk=st.integers(min_value=1, max_value=700))
def test_never_raises_and_stays_bounded(data: bytes, chunk: int) -> None:
    f = Framer(terminator=b"\r\n", max_length=256, idle_timeout_s=0.1)
    t = 0.0
    for i in range(0, len(data), chunk):
        for frame in f.feed(data[i : i + chunk], t):
            assert 4 <= len(frame) <= 256
        assert f.pending <= 256
        t += 0.2 if i % 3 else 0.01
        f.tick(t)
