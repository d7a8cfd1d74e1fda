"""The EU DCC schema check (device.verify.dccschema): every rule, its bounds, the released
schema versions' variants it accepts, and that a problem names a field, never a value."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from device.verify import dccschema
from device.verify.codecs import cbor
from device.verify.dccschema import check_dgc

NAM = {"fn": "Musterfrau-Gößinger", "fnt": "MUSTERFRAU<GOESSINGER", "gn": "Gabriele",
       "gnt": "GABRIELE"}
VACC = {"tg": "840539006", "vp": "1119305005", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
        "dn": 1, "sd": 2, "dt": "2021-02-18", "co": "AT", "is": "BMSGPK Austria",
        "ci": "URN:UVCI:01:AT:10807843F94AEE0EE5093FBC254BD813#B"}
TEST = {"tg": "840539006", "tt": "LP6464-4", "nm": "Roche LightCycler qPCR",
        "sc": "2021-05-30T10:12:22Z", "tr": "260415000", "tc": "Testzentrum Köln Hbf",
        "co": "DE", "is": "Robert Koch-Institut",
        "ci": "URN:UVCI:01DE/IZ12345A/5CWLU12RNOB9RXSEOP6FG8#W"}
RECO = {"tg": "840539006", "fr": "2021-02-11", "co": "DE", "is": "Robert Koch-Institut",
        "df": "2021-05-29", "du": "2021-06-15", "ci": "URN:UVCI:01DE/5CWLU12RNOB9RXSEOP6FG8#W"}
ENTRIES = {"v": VACC, "t": TEST, "r": RECO}


def dgc(kind: str = "v", **changes: Any) -> dict[str, Any]:
    d: dict[str, Any] = {"ver": "1.3.0", "nam": dict(NAM), "dob": "1998-02-26",
                         kind: [dict(ENTRIES[kind])]}
    for k, v in changes.items():
        if v is DROP:
            d.pop(k, None)
        else:
            d[k] = v
    return d


DROP = object()


def entry(kind: str, **changes: Any) -> dict[str, Any]:
    e = dict(ENTRIES[kind])
    for k, v in changes.items():
        if v is DROP:
            e.pop(k, None)
        else:
            e[k] = v
    return dgc(kind, **{kind: [e]})


def name(**changes: Any) -> dict[str, Any]:
    n = dict(NAM)
    for k, v in changes.items():
        if v is DROP:
            n.pop(k, None)
        else:
            n[k] = v
    return dgc(nam=n)


@pytest.mark.parametrize("kind", ["v", "t", "r"])
def test_a_valid_dgc_of_each_type(kind: str) -> None:
    problem, cert_type, ci = check_dgc(dgc(kind))
    assert (problem, cert_type, ci) == (None, kind, ENTRIES[kind]["ci"])


VALID: list[tuple[str, Callable[[], Any]]] = [
    # ver: any digits.digits.digits (the schemas' "^\d+.\d+.\d+$", "." any character)
    ("ver 1.0.0", lambda: dgc(ver="1.0.0")), ("ver 10.20.30", lambda: dgc(ver="10.20.30")),
    # dob: 1.3.0 empty; 1.1.0 year / year-month / date; 1.0.x's date-time (the apps keep it)
    ("dob empty", lambda: dgc(dob="")), ("dob year", lambda: dgc(dob="1950")),
    ("dob year-month", lambda: dgc(dob="2001-08")), ("dob 2099", lambda: dgc(dob="2099-12-31")),
    ("dob with time", lambda: dgc(dob="1964-08-12T00:00:00")),
    ("dob unchecked month and day", lambda: dgc(dob="1980-00-00")),
    # names: fnt or gnt (1.3.2), empty transliteration, 80 characters (1.3.0)
    ("gnt only", lambda: name(fnt=DROP)), ("fnt only", lambda: name(gnt=DROP, gn=DROP, fn=DROP)),
    ("fnt empty", lambda: name(fnt="")), ("names 80", lambda: name(fn="é" * 80, fnt="A" * 80,
                                                                 gn="x" * 80, gnt="<" * 80)),
    # entries: 1.3.0 lifted the dose maximum; integral floats are integers in JSON Schema
    ("dose 10 of 12", lambda: entry("v", dn=10, sd=12)), ("dose 1.0", lambda: entry("v", dn=1.0)),
    ("tc absent (1.3.1)", lambda: entry("t", tc=DROP)), ("nm, ma absent", lambda: entry(
        "t", nm=DROP, ma=DROP)), ("ma and dr present", lambda: entry(
            "t", ma="1232", dr="2021-05-30T10:30:15Z")),
    ("sc tagged 0", lambda: entry("t", sc=cbor.Tag(0, "2021-05-30T10:12:22Z"))),
    ("sc tagged 1", lambda: entry("t", sc=cbor.Tag(1, 1622369542))),
    ("sc offset +02", lambda: entry("t", sc="2021-06-11T17:30:00+02")),  # format not asserted
    ("dt tagged 1004", lambda: entry("v", dt=cbor.Tag(1004, "2021-02-18"))),
    ("fr tagged 100", lambda: entry("r", fr=cbor.Tag(100, 18669))),
    ("co UNHCR", lambda: entry("r", co="XXA")), ("co with a capital", lambda: entry("v", co="Xk")),
    ("is, ci, tc, nm 80", lambda: entry("t", **{"is": "i" * 80, "ci": "C" * 80,
                                                "tc": "t" * 80, "nm": "n" * 80})),
    ("ci lower case urn", lambda: entry("v", ci="urn:uvci:01/PT/SPMS/TRC0123#1")),
    ("unknown fields", lambda: {**entry("v", zz=[1, {"a": None}]), "yy": cbor.Tag(7, 1),
                                "nam": {**NAM, "xx": 1}}),
]


@pytest.mark.parametrize(("what", "build"), VALID, ids=[w for w, _ in VALID])
def test_documents_a_released_schema_version_accepts(what: str, build: Callable[[], Any]) -> None:
    assert check_dgc(build())[0] is None, what


INVALID: list[tuple[str, Callable[[], Any], str]] = [
    ("not a map", lambda: ["v"], "the DGC is not a map"),
    ("no group", lambda: dgc(v=DROP), "holds none"),
    ("two groups", lambda: {**dgc("v"), "t": [dict(TEST)]}, "holds several"),
    ("group null", lambda: {**dgc("t"), "v": None}, "holds several"),
    ("ver missing", lambda: dgc(ver=DROP), "ver missing"),
    ("ver 1.3", lambda: dgc(ver="1.3"), "ver is not"),
    ("ver newline", lambda: dgc(ver="1.3.0\n"), "ver is not"),
    ("ver line break inside", lambda: dgc(ver="1\n3.0"), "ver is not"),
    ("ver number", lambda: dgc(ver=1), "ver is not"),
    ("ver arabic digits", lambda: dgc(ver="١.٣.٠"), "ver is not"),
    ("nam missing", lambda: dgc(nam=DROP), "nam missing"),
    ("nam text", lambda: dgc(nam="X"), "nam is not a map"),
    ("no fnt or gnt", lambda: name(fnt=DROP, gnt=DROP), "neither fnt nor gnt"),
    ("fnt lower case", lambda: name(fnt="Mustermann"), "nam.fnt"),
    ("gnt with a space", lambda: name(gnt="ERIKA MARIA"), "nam.gnt"),
    ("fnt 81", lambda: name(fnt="A" * 81), "nam.fnt"),
    ("fnt null", lambda: name(fnt=None), "nam.fnt"),
    ("fn 81", lambda: name(fn="é" * 81), "nam.fn "),
    ("gn number", lambda: name(gn=7), "nam.gn "),
    ("dob missing", lambda: dgc(dob=DROP), "dob missing"),
    ("dob 1899", lambda: dgc(dob="1899-12-31"), "dob is not"),
    ("dob 2100", lambda: dgc(dob="2100-01-01"), "dob is not"),
    ("dob unknown parts", lambda: dgc(dob="1963-XX-XX"), "dob is not"),
    ("dob day-month-year", lambda: dgc(dob="26.02.1998"), "dob is not"),
    ("dob with zone", lambda: dgc(dob="1964-08-12T00:00:00Z"), "dob is not"),
    ("dob newline", lambda: dgc(dob="1964\n"), "dob is not"),
    ("dob tagged", lambda: dgc(dob=cbor.Tag(1004, "1964-08-12")), "dob is not"),
    ("group empty", lambda: dgc(v=[]), "exactly one entry"),
    ("two entries", lambda: dgc(v=[dict(VACC), dict(VACC)]), "exactly one entry"),
    ("group a map", lambda: dgc(v=dict(VACC)), "exactly one entry"),
    ("entry text", lambda: dgc(v=["x"]), "v[0] is not a map"),
    ("v tg missing", lambda: entry("v", tg=DROP), "v[0].tg missing"),
    ("v mp number", lambda: entry("v", mp=1528), "v[0].mp is not"),
    ("v dn 0", lambda: entry("v", dn=0), "v[0].dn is not"),
    ("v sd text", lambda: entry("v", sd="2"), "v[0].sd is not"),
    ("v dn true", lambda: entry("v", dn=True), "v[0].dn is not"),
    ("v dn 1.5", lambda: entry("v", dn=1.5), "v[0].dn is not"),
    ("v dt missing", lambda: entry("v", dt=DROP), "v[0].dt missing"),
    ("v dt number", lambda: entry("v", dt=20210218), "v[0].dt is not"),
    ("v co lower case", lambda: entry("v", co="at"), "v[0].co is not"),
    ("v co empty", lambda: entry("v", co=""), "v[0].co is not"),
    ("v is 81", lambda: entry("v", **{"is": "i" * 81}), "v[0].is is not"),
    ("v ci missing", lambda: entry("v", ci=DROP), "v[0].ci missing"),
    ("v ci empty", lambda: entry("v", ci=""), "v[0].ci is not"),
    ("v ci 81", lambda: entry("v", ci="C" * 81), "v[0].ci is not"),
    ("v tg null", lambda: entry("v", tg=None), "v[0].tg is not"),
    ("t sc missing", lambda: entry("t", sc=DROP), "t[0].sc missing"),
    ("t sc milliseconds", lambda: entry("t", sc=1613824496000), "t[0].sc is not"),
    ("t sc tag 1 text", lambda: entry("t", sc=cbor.Tag(1, "2021")), "t[0].sc is not"),
    ("t sc tag 0 number", lambda: entry("t", sc=cbor.Tag(0, 1622369542)), "t[0].sc is not"),
    ("t sc other tag", lambda: entry("t", sc=cbor.Tag(32, "x")), "t[0].sc is not"),
    ("t tt missing", lambda: entry("t", tt=DROP), "t[0].tt missing"),
    ("t tr number", lambda: entry("t", tr=260415000), "t[0].tr is not"),
    ("t tc 81", lambda: entry("t", tc="t" * 81), "t[0].tc is not"),
    ("t tc null", lambda: entry("t", tc=None), "t[0].tc is not"),
    ("t nm 81", lambda: entry("t", nm="n" * 81), "t[0].nm is not"),
    ("t ma number", lambda: entry("t", ma=1232), "t[0].ma is not"),
    ("t dr number", lambda: entry("t", dr=1613825101000), "t[0].dr is not"),
    ("r fr missing", lambda: entry("r", fr=DROP), "r[0].fr missing"),
    ("r df true", lambda: entry("r", df=True), "r[0].df is not"),
    ("r du list", lambda: entry("r", du=["2021-06-15"]), "r[0].du is not"),
    ("r co number", lambda: entry("r", co=49), "r[0].co is not"),
]


@pytest.mark.parametrize(("what", "build", "why"), INVALID, ids=[w for w, _, _ in INVALID])
def test_documents_every_released_schema_version_refuses(what: str, build: Callable[[], Any],
                                                         why: str) -> None:
    doc = build()
    problem = check_dgc(doc)[0]
    assert problem is not None and why in problem, (what, problem)
    # the problem names the field, never the value (a name, a date of birth, a UVCI)
    for value in _strings(doc):
        if len(value) >= 3 and value not in _FIELD_WORDS:
            assert value not in problem, (what, value)


_FIELD_WORDS = {"ver", "nam", "dob", "fnt", "gnt"}


def _strings(obj: Any) -> list[str]:
    if isinstance(obj, str):
        return [obj]
    if isinstance(obj, dict):
        return [s for k, v in obj.items() for s in _strings(k) + _strings(v)]
    if isinstance(obj, list):
        return [s for x in obj for s in _strings(x)]
    if isinstance(obj, cbor.Tag):
        return _strings(obj.value)
    return []


def test_the_type_and_uvci_are_read_even_with_a_problem_elsewhere() -> None:
    assert check_dgc(dgc("r", dob=DROP)) == ("dob missing", "r", RECO["ci"])
    assert check_dgc(entry("v", dn=0))[1:] == ("v", VACC["ci"])
    assert check_dgc(entry("v", ci=7))[1:] == ("v", None)
    assert check_dgc({**dgc("v"), "t": [TEST]})[1:] == (None, None)
    assert check_dgc(dgc(v=[]))[1:] == ("v", None)


def test_the_first_failing_field_is_reported_in_a_fixed_order() -> None:
    broken = entry("v", dn=0, co="at")
    broken["dob"] = "x"
    broken["ver"] = "x"
    assert check_dgc(broken)[0] == "ver is not a version (digits.digits.digits)"
    del broken["ver"]
    assert check_dgc(broken)[0] == "ver missing"
    broken["ver"] = "1.0.0"
    assert (check_dgc(broken)[0] or "").startswith("dob is not")
    broken["dob"] = "1990"
    assert (check_dgc(broken)[0] or "").startswith("v[0].dn is not")


_SAMPLE_VALUES = st.sampled_from([
    None, True, 0, 1, 2, 10, -1, 1.0, 1.5, "", "a", "AT", "at", "XXA", "2021-05-30T10:12:22Z",
    "x" * 80, "x" * 81, [], ["x"], {}, cbor.Tag(0, "2021"), cbor.Tag(1, 5), cbor.Tag(100, 3),
    cbor.Tag(1004, "2021-01-01"), cbor.Tag(5, "x"), b"AT"])


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["v", "t", "r"]),
       st.lists(st.tuples(st.sampled_from(sorted({k for e in ENTRIES.values() for k in e}
                                                 | {"nm", "ma", "dr", "zz"})),
                          st.one_of(st.just(DROP), _SAMPLE_VALUES)), max_size=4))
def test_the_fast_check_agrees_with_the_field_by_field_one(kind: str,
                                                           edits: list[tuple[str, Any]]) -> None:
    """The straight-line check of the usual case passes exactly the entries that the
    field-by-field rules (which name the failing field) pass."""
    e = copy.deepcopy(ENTRIES[kind])
    for k, v in edits:
        if v is DROP:
            e.pop(k, None)
        else:
            e[k] = v
    fast = dccschema._ENTRY_OK[kind](e)
    slow = dccschema._entry_problem(kind, e)
    assert fast == (slow is None), (e, slow)


@settings(max_examples=300, deadline=None)
@given(st.recursive(_SAMPLE_VALUES, lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["v", "t", "r", "ver", "nam", "dob",
                                                       "fnt", "ci", "co", "dn"]),
                                      inner, max_size=4), max_leaves=12))
def test_any_decoded_value_gets_an_answer(doc: Any) -> None:
    problem, cert_type, ci = check_dgc(doc)
    assert problem is None or isinstance(problem, str)
    assert cert_type in (None, "v", "t", "r") and (ci is None or isinstance(ci, str))


@settings(max_examples=600, deadline=None)
@given(st.sampled_from(["v", "t", "r"]),
       st.lists(st.tuples(st.sampled_from(["dgc", "nam"]),
                          st.sampled_from(["ver", "nam", "dob", "fnt", "gnt", "fn", "gn", "zz"]),
                          st.one_of(st.just(DROP), _SAMPLE_VALUES,
                                    st.sampled_from(["1.0.0", "1.3", "10.2.3", "1964",
                                                     "1964-08", "1964-08-12T00:00:00",
                                                     "ERIKA<X", "Erika"]))),
                max_size=4))
def test_the_fast_path_agrees_with_the_field_by_field_rules(
        kind: str, edits: list[tuple[str, str, Any]]) -> None:
    """check_dgc's straight-line path for the usual document gives exactly the answer of
    the rules that name the failing field."""
    doc = dgc(kind)
    for where, key, value in edits:
        target = doc if where == "dgc" else doc.get("nam")
        if not isinstance(target, dict):
            continue
        if value is DROP:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    group = doc[kind]
    assert check_dgc(doc)[0] == dccschema._problem(doc, kind, group, group[0])
