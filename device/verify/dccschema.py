"""The EU DCC document (the DGC: hcert claim -260, key 1) checked against the EU DCC JSON
schema, by hand, over the decoded CBOR (no JSON, no schema library, no I/O).

The rules are those of the released schema versions 1.0.0 to 1.3.2
(ehn-dcc-development/eu-dcc-schema, ``DCC.combined-schema.json``), as the EU tools apply
them; where the versions differ a document valid under any of them passes, so a verifier
that does not know which version an issuer followed still accepts every valid document.
docs/code-format.md section 5 ("EU DCC claims") lists the rules and why each one is
there. In short:

* ``ver``: a text ``digits.digits.digits`` (the schemas' ``^\\d+.\\d+.\\d+$``);
* ``nam``: a map holding ``fnt`` or ``gnt`` (1.3.2 made either enough; earlier versions
  required ``fnt``); ``fnt`` / ``gnt`` match ``^[A-Z<]*$``; all four names at most 80
  characters (80 since 1.3.0, 50 before);
* ``dob``: empty (1.3.0), ``YYYY``, ``YYYY-MM``, ``YYYY-MM-DD`` (1.1.0) or
  ``YYYY-MM-DDThh:mm:ss`` (1.0.x, whose unanchored pattern the reference apps keep),
  years 1900-2099;
* exactly one of ``v`` / ``t`` / ``r``, an array of exactly one map (1.3.0's
  ``oneOf`` and ``maxItems``, and the EU test list's "multiple certificates" case);
* the entry's required fields (``tc`` optional, as since 1.3.1), each of its type:
  value-set codes and dates as text (``format`` is an annotation in the schemas'
  JSON Schema 2020-12 dialect, not asserted by the EU tools, so dates are not parsed;
  a date may also be tagged, as the schema README allows for date-times: tag 0 or 1004
  around text, 1 or 100 around a number), ``dn`` / ``sd`` integers >= 1 (1.3.0 lifted
  the former maximum of 9),
  ``co`` holding a capital letter (the schemas' unanchored ``[A-Z]{1,10}``), issuer,
  ``ci``, ``tc`` and ``nm`` at most 80 characters, ``ci`` not empty (it is the code's id).

Fields the schemas do not define are allowed everywhere. ``null`` is not a value of any
defined field. A problem is reported by naming the field (``v[0].dn``), never its value:
the document holds a name and a date of birth.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from device.verify.codecs.cbor import Tag

DCC_TYPES = ("v", "t", "r")
MAX_LEN = 80

# JSON Schema patterns are ECMA-262: "^...$" is the whole string (Python's "$" would also
# match before a final newline: fullmatch), "\d" is ASCII, "." is not a line terminator.
_ANY = r"[^\n\r\u2028\u2029]"
_VER = re.compile(rf"\d+{_ANY}\d+{_ANY}\d+", re.ASCII).fullmatch
_DOB = re.compile(r"(?:(?:19|20)\d\d(?:-\d\d(?:-\d\d(?:T\d\d:\d\d:\d\d)?)?)?)?",
                  re.ASCII).fullmatch
_DOB_DATE = re.compile(r"(?:19|20)\d\d-\d\d-\d\d", re.ASCII).fullmatch  # the usual one
_TRANSLIT = re.compile(r"[A-Z<]*").fullmatch
_COUNTRY = re.compile(r"[A-Z]").search  # "[A-Z]{1,10}", unanchored: one capital is enough


def _text(v: Any) -> bool:
    return type(v) is str


def _text80(v: Any) -> bool:
    return type(v) is str and len(v) <= MAX_LEN


def _dose(v: Any) -> bool:
    t = type(v)
    return (t is int and v >= 1) or (t is float and v.is_integer() and v >= 1)


def _date(v: Any) -> bool:
    """Text, or text or a number under a date/time tag (0 and 1004: text; 1 and 100: a
    number, RFC 8949 and RFC 8943), which CBOR-to-JSON decoders turn into the text."""
    t = type(v)
    if t is str:
        return True
    if t is not Tag:
        return False
    tag, tv = v.tag, type(v.value)
    return ((tag == 0 or tag == 1004) and tv is str) or (tag == 1 and (tv is int or tv is float)
                                                        ) or (tag == 100 and tv is int)


def _country(v: Any) -> bool:
    return type(v) is str and _COUNTRY(v) is not None


def _uvci(v: Any) -> bool:
    return type(v) is str and 0 < len(v) <= MAX_LEN


_Check = tuple[str, bool, Callable[[Any], bool], str]  # field, required, test, what it must be
_TEXT = "a text string"
_DATE = "a date (text, or text or a number tagged as a date)"
_TEXT80 = f"a text string of at most {MAX_LEN} characters"
_FIELDS: dict[str, tuple[_Check, ...]] = {
    "v": (("tg", True, _text, _TEXT), ("vp", True, _text, _TEXT), ("mp", True, _text, _TEXT),
          ("ma", True, _text, _TEXT), ("dn", True, _dose, "an integer >= 1"),
          ("sd", True, _dose, "an integer >= 1"), ("dt", True, _date, _DATE),
          ("co", True, _country, "a country code (text with a capital letter)"),
          ("is", True, _text80, _TEXT80),
          ("ci", True, _uvci, f"a non-empty text string of at most {MAX_LEN} characters")),
    "t": (("tg", True, _text, _TEXT), ("tt", True, _text, _TEXT),
          ("sc", True, _date, _DATE),
          ("tr", True, _text, _TEXT),
          ("co", True, _country, "a country code (text with a capital letter)"),
          ("is", True, _text80, _TEXT80),
          ("ci", True, _uvci, f"a non-empty text string of at most {MAX_LEN} characters"),
          ("nm", False, _text80, _TEXT80), ("ma", False, _text, _TEXT),
          ("tc", False, _text80, _TEXT80),
          ("dr", False, _date, _DATE)),
    "r": (("tg", True, _text, _TEXT), ("fr", True, _date, _DATE),
          ("co", True, _country, "a country code (text with a capital letter)"),
          ("is", True, _text80, _TEXT80), ("df", True, _date, _DATE),
          ("du", True, _date, _DATE),
          ("ci", True, _uvci, f"a non-empty text string of at most {MAX_LEN} characters")),
}
_MISSING = object()


# The usual case, decided in straight-line code (one verification per scan): each is True
# exactly when _entry_problem finds nothing (tests/device/test_dccschema.py holds them to
# it), but tries the common value types first.
def _v_ok(e: dict[str, Any]) -> bool:
    get = e.get
    dn, sd, co, is_, ci, dt = get("dn"), get("sd"), get("co"), get("is"), get("ci"), get("dt")
    return (type(get("tg")) is str and type(get("vp")) is str and type(get("mp")) is str
            and type(get("ma")) is str and ((type(dn) is int and dn >= 1) or _dose(dn))
            and ((type(sd) is int and sd >= 1) or _dose(sd))
            and (type(dt) is str or _date(dt)) and type(co) is str and _COUNTRY(co) is not None
            and type(is_) is str and len(is_) <= MAX_LEN and type(ci) is str
            and 0 < len(ci) <= MAX_LEN)


def _t_ok(e: dict[str, Any]) -> bool:
    get = e.get
    co, is_, ci = get("co"), get("is"), get("ci")
    nm, ma, tc, dr = get("nm", ""), get("ma", ""), get("tc", ""), get("dr", "")
    return (type(get("tg")) is str and type(get("tt")) is str and type(get("tr")) is str
            and _date(get("sc", None)) and type(co) is str and _COUNTRY(co) is not None
            and type(is_) is str and len(is_) <= MAX_LEN and type(ci) is str
            and 0 < len(ci) <= MAX_LEN and type(nm) is str and len(nm) <= MAX_LEN
            and type(ma) is str and type(tc) is str and len(tc) <= MAX_LEN and _date(dr))


def _r_ok(e: dict[str, Any]) -> bool:
    get = e.get
    co, is_, ci, fr, df, du = get("co"), get("is"), get("ci"), get("fr"), get("df"), get("du")
    return (type(get("tg")) is str and (type(fr) is str or _date(fr))
            and (type(df) is str or _date(df)) and (type(du) is str or _date(du))
            and type(co) is str and _COUNTRY(co) is not None and type(is_) is str
            and len(is_) <= MAX_LEN and type(ci) is str and 0 < len(ci) <= MAX_LEN)


_ENTRY_OK = {"v": _v_ok, "t": _t_ok, "r": _r_ok}


def check_dgc(dgc: Any) -> tuple[str | None, str | None, str | None]:
    """(problem, certificate type, UVCI) of a decoded DGC. ``problem`` is None when the DGC
    follows the schema, else one line naming the first failing field (in a fixed order:
    the v/t/r group's presence, ver, nam, dob, the group, the entry's fields); the type
    and UVCI are given whenever they can be read, even with a problem elsewhere."""
    if type(dgc) is not dict:
        return "the DGC is not a map", None, None
    cert_type = None
    for t in DCC_TYPES:
        if t in dgc:
            if cert_type is not None:
                return "must hold exactly one of v/t/r, holds several", None, None
            cert_type = t
    group = dgc.get(cert_type) if cert_type is not None else None
    entry = group[0] if type(group) is list and len(group) == 1 else None
    if type(entry) is dict:
        ci = entry.get("ci")
        if type(ci) is not str:
            ci = None
        if _top_ok(dgc) and _ENTRY_OK[cert_type](entry):  # type: ignore[index]
            return None, cert_type, ci
    else:
        ci = None
    return _problem(dgc, cert_type, group, entry), cert_type, ci


def _top_ok(dgc: dict[Any, Any]) -> bool:
    """ver, nam and dob pass (straight-line, the usual case; see _problem)."""
    get = dgc.get
    ver, nam, dob = get("ver"), get("nam"), get("dob")
    if type(nam) is not dict or type(dob) is not str or type(ver) is not str:
        return False
    if "fnt" not in nam and "gnt" not in nam:
        return False
    get = nam.get
    fnt, gnt, fn, gn = get("fnt", ""), get("gnt", ""), get("fn", ""), get("gn", "")
    return (type(fnt) is str and type(gnt) is str and len(fnt) <= MAX_LEN
            and len(gnt) <= MAX_LEN and _TRANSLIT(fnt + gnt) is not None
            and type(fn) is str and len(fn) <= MAX_LEN and type(gn) is str
            and len(gn) <= MAX_LEN and _VER(ver) is not None
            and (_DOB_DATE(dob) is not None or _DOB(dob) is not None))


def _problem(dgc: dict[Any, Any], cert_type: str | None, group: Any, entry: Any) -> str | None:
    ver = dgc.get("ver", _MISSING)
    if ver is _MISSING:
        return "ver missing"
    if type(ver) is not str or _VER(ver) is None:
        return "ver is not a version (digits.digits.digits)"
    nam = dgc.get("nam", _MISSING)
    if nam is _MISSING:
        return "nam missing"
    if type(nam) is not dict:
        return "nam is not a map"
    if "fnt" not in nam and "gnt" not in nam:
        return "nam holds neither fnt nor gnt"
    for name in ("fnt", "gnt"):
        v = nam.get(name, _MISSING)
        if v is not _MISSING and (type(v) is not str or len(v) > MAX_LEN or _TRANSLIT(v) is None):
            return f"nam.{name} is not {MAX_LEN} or fewer of A-Z and <"
    for name in ("fn", "gn"):
        v = nam.get(name, _MISSING)
        if v is not _MISSING and not _text80(v):
            return f"nam.{name} is not {_TEXT80}"
    dob = dgc.get("dob", _MISSING)
    if dob is _MISSING:
        return "dob missing"
    if type(dob) is not str or _DOB(dob) is None:
        return "dob is not a date of birth (empty, YYYY, YYYY-MM or YYYY-MM-DD, 1900-2099)"
    if cert_type is None:
        return "must hold exactly one of v/t/r, holds none"
    if type(group) is not list or len(group) != 1:
        return f"{cert_type} is not an array of exactly one entry"
    if type(entry) is not dict:
        return f"{cert_type}[0] is not a map"
    return _entry_problem(cert_type, entry)


def _entry_problem(cert_type: str, entry: dict[str, Any]) -> str | None:
    """The first field of the entry that breaks its rule (None if none does)."""
    for name, required, test, what in _FIELDS[cert_type]:
        v = entry.get(name, _MISSING)
        if v is _MISSING:
            if required:
                return f"{cert_type}[0].{name} missing"
        elif not test(v):
            return f"{cert_type}[0].{name} is not {what}"
    return None
