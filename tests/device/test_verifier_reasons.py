"""Every reason code, reached by breaking one stage of the chain, for both profiles."""

from __future__ import annotations

import zlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device.clock import ManualClock
from device.decide import SiteDecider, SitePolicy
from device.errors import ConfigError
from device.verify.claims import CLAIM_CTI, CLAIM_SCANGATE, SG_STATUS, SG_VERSION
from device.verify.codecs import base45, cbor, cose
from device.verify.codeformat import (
    MAX_DECOMPRESSED_BYTES,
    PREFIXES,
    PROFILE_DCC,
    PROFILE_SCANGATE,
    wrap,
)
from device.verify.trustlist import SignerKey, TrustList
from device.verify.verdict import WARNING_STALE, Decision, Reason, Verdict
from device.verify.verifier import Verifier, VerifyPolicy
from sim.issuer import Issuer
from sim.keys import sign_trust_list
from tests.device.verifier_fixtures import dcc_samples, ec_key, make_cert, resign

NOW = 1_800_000_000.0
DCC = next(s for s in dcc_samples() if s.name == "AT-1")


class World:
    def __init__(self) -> None:
        self.root = ec_key()
        self.issuer = Issuer(ec_key(), iss="test-issuer")
        self.sg_key = SignerKey.from_public_key(self.issuer.private_key.public_key(),
                                                profiles={"scangate"})
        self.revoked_id = "ab" * 16
        self.dcc_revoked = DCC.signer
        self.trust = self.make_list(1, NOW - 3600, NOW + 86400)

    def make_list(self, version: int, issued: float, expires: float,
                  revoked: tuple[str, ...] = ()) -> TrustList:
        data = sign_trust_list(self.root, version, issued, expires,
                               [self.sg_key, DCC.signer], [self.revoked_id, *revoked])
        return TrustList.from_bytes(data, self.root.public_key())

    def mint(self, status: str = "green", **kw: Any) -> str:
        kw.setdefault("now", NOW)
        return self.issuer.mint(status, **kw)

    def cose_of(self, mutate: Any = None, key: Any = None, kid: Any = "default") -> bytes:
        claims = self.issuer.claims("green", 300, NOW)
        if mutate is not None:
            mutate(claims)
        return cose.sign1(cbor.encode(claims), key or self.issuer.private_key,
                          self.issuer.kid if kid == "default" else kid)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def verify(world: World, payload: str | bytes, at: float = NOW, *,
           clock_skew_s: float = 60.0, **site: Any) -> Verdict:
    """The verifier's facts, then the site policy (``site``: SitePolicy fields) on them."""
    facts = Verifier(world.trust, policy=VerifyPolicy(clock_skew_s=clock_skew_s)).verify(
        payload, at=at)
    return SiteDecider(SitePolicy(anti_passback_s=0, **site)).decide(facts, t_mono=0)


def test_ok_scangate(world: World) -> None:
    v = verify(world, world.mint("green", subject_ref="11" * 16, code_id="22" * 16))
    assert (v.decision, v.reason, v.profile, v.status) == (
        Decision.ACCEPT, Reason.OK, PROFILE_SCANGATE, "green")
    assert v.kid == world.issuer.kid and v.issuer == "test-issuer"
    assert (v.iat, v.exp) == (int(NOW), int(NOW) + 300)
    assert v.code_id == "22" * 16 and v.subject_ref == "11" * 16
    assert v.to_json()["status"] == "green"


def test_ok_dcc(world: World) -> None:
    v = verify(world, DCC.prefix, at=DCC.at)
    assert v.reason is Reason.OK and v.profile == PROFILE_DCC


@pytest.mark.parametrize("payload", ["", "hello", "https://example.com/x", "HC2:ABC", "sg1:AB",
                                     "NCFOXN%TS3DH3ZSUZK", "\x00\x01", b"\xff\xfe", "HC1"])
def test_unknown_format(world: World, payload: str | bytes) -> None:
    v = verify(world, payload)
    assert v.reason is Reason.UNKNOWN_FORMAT and v.decision is Decision.DENY
    assert v.profile is None


@pytest.mark.parametrize("prefix", ["SG1:", "HC1:"])
@pytest.mark.parametrize("body", ["A", "abc", "GGW", "AB@", "::::"])
def test_bad_encoding(world: World, prefix: str, body: str) -> None:
    v = verify(world, prefix + body)
    assert v.reason is Reason.BAD_ENCODING and v.profile == PREFIXES[prefix]


@pytest.mark.parametrize("prefix", ["SG1:", "HC1:"])
@pytest.mark.parametrize("body", ["ÄÖÜ", "AB\u00a0C", "A\u200bBC", "日本"])
def test_non_ascii_is_unknown_format_as_text_and_as_bytes(world: World, prefix: str,
                                                          body: str) -> None:
    """docs/code-format.md section 6, stage 0: the same reason whatever the input type."""
    for payload in (prefix + body, (prefix + body).encode("utf-8"),
                    (prefix + body).encode("utf-16-le")[::2] + b"\xff"):
        v = verify(world, payload)
        assert (v.reason, v.profile) == (Reason.UNKNOWN_FORMAT, None), payload
    # after a valid code too: a stray non-ASCII character anywhere is the same reason
    assert verify(world, world.mint() + "é").reason is Reason.UNKNOWN_FORMAT


@pytest.mark.parametrize("prefix", ["SG1:", "HC1:"])
@pytest.mark.parametrize("blob", [
    b"\x00\x01\x02\x03",                       # not zlib
    zlib.compress(b"x" * 100)[:-6],             # truncated stream
    zlib.compress(b"abc") + b"junk",            # trailing bytes
    b"\x78\x9c" + b"\xff" * 20,                 # bad deflate data
])
def test_bad_compression(world: World, prefix: str, blob: bytes) -> None:
    assert verify(world, prefix + base45.encode(blob)).reason is Reason.BAD_COMPRESSION


def test_bad_compression_from_a_valid_code_with_a_broken_zlib_header(world: World) -> None:
    raw = bytearray(base45.decode(world.mint()[4:]))
    raw[0] ^= 0xFF
    assert verify(world, "SG1:" + base45.encode(bytes(raw))).reason is Reason.BAD_COMPRESSION


def _bad_structures(world: World) -> list[bytes]:
    good = world.cose_of()
    msg = cbor.decode(good)
    no_alg = cbor.Tag(18, [cbor.encode({4: world.issuer.kid}), {}, msg.value[2], msg.value[3]])
    bad_alg = cbor.Tag(18, [cbor.encode({1: -8, 4: world.issuer.kid}), {}, msg.value[2],
                            msg.value[3]])
    return [
        b"\xa0",                                       # a map, not COSE
        good[:-5],                                     # truncated CBOR
        good + b"\x00",                                # trailing bytes
        cbor.encode(cbor.Tag(98, msg.value)),          # COSE_Sign, not Sign1
        cbor.encode([1, 2, 3]),
        cbor.encode(no_alg),
        cbor.encode(bad_alg),                          # EdDSA: not supported
        cbor.encode(cbor.Tag(18, [msg.value[0], {}, None, msg.value[3]])),  # detached
        world.cose_of(lambda c: c.pop(CLAIM_CTI)),
        world.cose_of(lambda c: c[CLAIM_SCANGATE].__setitem__(SG_STATUS, "blue")),
        world.cose_of(lambda c: c[CLAIM_SCANGATE].__setitem__(SG_VERSION, 2)),
        world.cose_of(lambda c: c.pop(CLAIM_SCANGATE)),
        world.cose_of(lambda c: c.__setitem__(1, 42)),  # iss not text
    ]


def test_bad_structure_scangate(world: World) -> None:
    for blob in _bad_structures(world):
        v = verify(world, wrap(PROFILE_SCANGATE, blob))
        assert v.reason is Reason.BAD_STRUCTURE, (blob.hex(), v.detail)


def test_bad_structure_dcc(world: World) -> None:
    key = ec_key()
    # a scangate CWT under the HC1 prefix has no hcert claim
    for blob in [*_bad_structures(world)[:8], world.cose_of(), resign(DCC.cose_bytes(), key,
                                                                         b"k" * 8,
                                                                         mutate=lambda c:
                                                                         c.pop(-260))]:
        v = verify(world, wrap(PROFILE_DCC, blob), at=DCC.at)
        assert v.reason is Reason.BAD_STRUCTURE, (blob.hex(), v.detail)


@pytest.mark.parametrize("prefix", ["SG1:", "HC1:"])
def test_too_large(world: World, prefix: str) -> None:
    assert verify(world, prefix + "A" * 5000).reason is Reason.TOO_LARGE
    assert verify(world, "X" * 5000).reason is Reason.TOO_LARGE
    bomb = zlib.compress(b"\x00" * (MAX_DECOMPRESSED_BYTES + 1), 9)
    assert verify(world, prefix + base45.encode(bomb)).reason is Reason.TOO_LARGE
    deep = b"\x81" * 40 + b"\x01"
    assert verify(world, prefix + base45.encode(zlib.compress(deep))).reason is Reason.TOO_LARGE
    many = cbor.encode(cbor.Tag(18, [b"", {i: i for i in range(100)}, b"", b""]))
    assert verify(world, prefix + base45.encode(zlib.compress(many))).reason is Reason.TOO_LARGE


def test_too_large_claims(world: World) -> None:
    blob = world.cose_of(lambda c: c.__setitem__(99, list(range(2000))))
    assert verify(world, wrap(PROFILE_SCANGATE, blob)).reason is Reason.TOO_LARGE


def test_unknown_key(world: World) -> None:
    stranger = Issuer(ec_key())
    v = verify(world, stranger.mint(now=NOW))
    assert v.reason is Reason.UNKNOWN_KEY and v.kid == stranger.kid
    assert v.issuer is None and v.code_id is None  # nothing unauthenticated is reported
    v = verify(world, wrap(PROFILE_SCANGATE, world.cose_of(kid=None)))
    assert v.reason is Reason.UNKNOWN_KEY
    dcc_stranger = resign(DCC.cose_bytes(), ec_key(), b"\x01" * 8)
    assert verify(world, wrap(PROFILE_DCC, dcc_stranger), at=DCC.at).reason is Reason.UNKNOWN_KEY


def test_bad_signature(world: World) -> None:
    forged = world.cose_of(key=ec_key())  # right kid, wrong key
    v = verify(world, wrap(PROFILE_SCANGATE, forged))
    assert v.reason is Reason.BAD_SIGNATURE and v.status is None and v.code_id is None
    # tamper with the signed claims of a genuine code: status red -> green
    msg = cbor.decode(world.cose_of(lambda c: c[CLAIM_SCANGATE].__setitem__(SG_STATUS, "red")))
    claims = cbor.decode(msg.value[2])
    claims[CLAIM_SCANGATE][SG_STATUS] = "green"
    msg.value[2] = cbor.encode(claims)
    assert verify(world, wrap(PROFILE_SCANGATE, cbor.encode(msg))).reason is Reason.BAD_SIGNATURE
    # flip one bit of a DCC signature; and a signature of the wrong length
    for cut in (lambda s: s[:-1] + bytes([s[-1] ^ 1]), lambda s: s[:-2]):
        d = cbor.decode(DCC.cose_bytes())
        d.value[3] = cut(d.value[3])
        assert verify(world, wrap(PROFILE_DCC, cbor.encode(d)), at=DCC.at).reason is (
            Reason.BAD_SIGNATURE)


def test_key_usage(world: World) -> None:
    # the DCC signer is in the list for eu-dcc only; it must not sign our codes
    dcc_issuer_key = ec_key()
    cert = make_cert(dcc_issuer_key)
    only_dcc = SignerKey.from_certificate(cert, profiles={"eu-dcc"})
    issuer = Issuer(dcc_issuer_key, kid=only_dcc.kid)
    v = Verifier([only_dcc]).verify(issuer.mint(now=NOW), at=NOW)
    assert v.reason is Reason.KEY_USAGE and v.profile == PROFILE_SCANGATE
    # our issuer key must not sign DCCs
    dcc = resign(DCC.cose_bytes(), world.issuer.private_key, world.issuer.kid)
    assert verify(world, wrap(PROFILE_DCC, dcc), at=DCC.at).reason is Reason.KEY_USAGE
    # the key's validity is not key usage: see test_signer_key_validity_at_the_check_time
    timed = SignerKey.from_public_key(world.issuer.private_key.public_key(),
                                      profiles={"scangate"}, not_after=NOW - 10)
    assert Verifier([timed]).verify(world.mint(), at=NOW).reason is Reason.EXPIRED


def test_signer_key_validity_at_the_check_time(world: World) -> None:
    """One rule for both profiles: the check time must lie in [not_before, not_after];
    iat is compared with the check time only (a code issued before the key's not_before
    is valid once the key is)."""
    pub = world.issuer.private_key.public_key()
    key = SignerKey.from_public_key(pub, profiles={"scangate"}, not_before=NOW + 100,
                                    not_after=NOW + 200)
    code = world.mint(valid_s=1000)  # iat NOW, before the key's not_before
    ver = Verifier([key], policy=VerifyPolicy(clock_skew_s=0))
    assert ver.verify(code, at=NOW + 99).reason is Reason.NOT_YET_VALID
    assert ver.verify(code, at=NOW + 100).reason is Reason.OK
    assert ver.verify(code, at=NOW + 200).reason is Reason.OK
    assert ver.verify(code, at=NOW + 200.5).reason is Reason.EXPIRED
    # the clock skew allowance applies to not_before as it does to iat
    assert Verifier([key]).verify(code, at=NOW + 41).reason is Reason.OK
    assert Verifier([key]).verify(code, at=NOW + 39).reason is Reason.NOT_YET_VALID


def test_validity_window(world: World) -> None:
    code = world.mint(valid_s=300)
    assert verify(world, code, at=NOW - 61).reason is Reason.NOT_YET_VALID
    assert verify(world, code, at=NOW - 59).reason is Reason.OK  # within clock skew
    assert verify(world, code, at=NOW + 299).reason is Reason.OK
    assert verify(world, code, at=NOW + 300).reason is Reason.OK  # exp is inclusive
    assert verify(world, code, at=NOW + 300.001).reason is Reason.EXPIRED
    assert verify(world, code, at=NOW + 301).reason is Reason.EXPIRED
    assert verify(world, code, at=NOW - 60).reason is Reason.OK  # iat - skew is inclusive
    assert verify(world, code, at=NOW - 1, clock_skew_s=0).reason is Reason.NOT_YET_VALID


def test_revoked(world: World) -> None:
    assert verify(world, world.mint(code_id=world.revoked_id)).reason is Reason.REVOKED
    dcc_ok = verify(world, DCC.prefix, at=DCC.at)
    trust = world.make_list(2, NOW - 10, NOW + 86400, revoked=(dcc_ok.code_id or "",))
    v = Verifier(trust).verify(DCC.prefix, at=DCC.at)
    assert v.reason is Reason.REVOKED and v.code_id == dcc_ok.code_id


def test_status_yellow_and_red(world: World) -> None:
    # the verifier reports yellow as a fact; the site policy denies it by default
    facts = Verifier(world.trust).verify(world.mint("yellow"), at=NOW)
    assert facts.reason is Reason.OK and facts.status == "yellow"
    assert verify(world, world.mint("yellow")).reason is Reason.STATUS_YELLOW
    v = verify(world, world.mint("yellow"), accept_yellow=True)
    assert v.reason is Reason.OK and v.status == "yellow"
    assert verify(world, world.mint("red")).reason is Reason.STATUS_RED
    assert verify(world, world.mint("red"), accept_yellow=True).reason is Reason.STATUS_RED


def test_order_first_failing_stage_wins(world: World) -> None:
    # expired AND revoked AND red: the validity window comes first
    code = world.mint("red", code_id=world.revoked_id)
    assert verify(world, code, at=NOW + 1000).reason is Reason.EXPIRED
    assert verify(world, code).reason is Reason.REVOKED
    # forged AND expired: signature first
    forged = wrap(PROFILE_SCANGATE, world.cose_of(key=ec_key()))
    assert verify(world, forged, at=NOW + 1000).reason is Reason.BAD_SIGNATURE


def test_stale_list_warns_or_denies(world: World) -> None:
    stale_at = NOW + 86400 + 1
    code = world.mint(now=stale_at)
    v = verify(world, code, at=stale_at)
    assert v.reason is Reason.OK and WARNING_STALE in v.warnings
    v = verify(world, code, at=stale_at, stale_policy="deny")
    assert v.reason is Reason.STALE_TRUST_LIST and v.decision is Decision.DENY
    assert WARNING_STALE in v.warnings
    assert not verify(world, world.mint()).warnings
    # a denial for another reason keeps its reason, with the warning
    v = verify(world, world.mint("red", now=stale_at), at=stale_at, stale_policy="deny")
    assert v.reason is Reason.STATUS_RED and WARNING_STALE in v.warnings


def test_policy_validation() -> None:
    with pytest.raises(ConfigError):
        SitePolicy(stale_policy="maybe")
    with pytest.raises(ConfigError):
        SitePolicy(accepted_profiles=frozenset({"eu-dcc", "other"}))
    with pytest.raises(ConfigError):
        VerifyPolicy(clock_skew_s=-1)


def test_yellow_on_a_stale_list_gets_one_reason_everywhere(world: World) -> None:
    """Stale list before yellow: the rule order of device.decide (the daemon's and CLI's)."""
    stale_at = NOW + 86400 + 1
    code = world.mint("yellow", now=stale_at)
    assert verify(world, code, at=stale_at, stale_policy="deny").reason is (
        Reason.STALE_TRUST_LIST)
    assert verify(world, code, at=stale_at).reason is Reason.STATUS_YELLOW


def test_default_time_is_the_injected_clock(world: World) -> None:
    clock = ManualClock(now=NOW)
    ver = Verifier(world.trust, clock=clock)
    code = world.mint(valid_s=60)
    assert ver.verify(code).reason is Reason.OK
    clock.advance(61)
    assert ver.verify(code).reason is Reason.EXPIRED


def test_replace_trust_swaps_keys(world: World) -> None:
    ver = Verifier([], clock=ManualClock(now=NOW))
    assert ver.trust_list is None
    assert ver.verify(world.mint()).reason is Reason.UNKNOWN_KEY
    ver.replace_trust(world.trust)
    assert ver.trust_list is world.trust
    assert ver.verify(world.mint()).reason is Reason.OK


def test_bytes_payload_and_line_endings(world: World) -> None:
    code = world.mint()
    assert verify(world, code.encode() + b"\r\n").reason is Reason.OK
    assert verify(world, "  " + code + "\n").reason is Reason.OK


def test_never_raises_on_internal_error(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    import device.verify.verifier as vmod

    def boom(*a: object, **k: object) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(vmod, "decode_claims", boom)
    v = verify(world, world.mint())
    assert v.decision is Decision.DENY and v.reason is Reason.BAD_STRUCTURE
    assert verify(world, 12345).decision is Decision.DENY  # type: ignore[arg-type]


def test_verify_many_gives_exactly_the_verdicts_of_verify(world: World) -> None:
    """Same verdicts, same order, for every kind of outcome (docs/verifier-api.md)."""
    from tests.device.test_code_format_doc import CASES

    ver = Verifier(world.trust)
    payloads: list[str | bytes] = [world.mint(), world.mint("yellow"), world.mint("red"),
                                   world.mint(code_id=world.revoked_id), DCC.prefix, "hello",
                                   b"SG1:\xff", world.mint()[:-3], world.mint().encode()]
    payloads += [p for p, _, _ in (build() for build in CASES.values())]
    for at in (NOW, NOW + 400, DCC.at, NOW + 10 * 86400):  # the last: a stale list
        assert ver.verify_many(payloads, at=at) == [ver.verify(p, at=at) for p in payloads]
    assert ver.verify_many([]) == []
    # a bad time is an internal error for every payload, as in verify()
    bad = ver.verify_many(payloads[:3], at="soon")  # type: ignore[arg-type]
    assert bad == [ver.verify(p, at="soon") for p in payloads[:3]]  # type: ignore[arg-type]
    assert {v.detail for v in bad} == {"internal error: ValueError"}


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 400), st.integers(0, 255)),
                max_size=8))
def test_verify_many_equals_verify_on_damaged_codes(
        world: World, damage: list[tuple[int, int, int]]) -> None:
    good = [world.mint(), DCC.prefix, world.mint("red")]
    payloads = []
    for which, pos, value in damage:
        raw = bytearray(good[which].encode())
        raw[pos % len(raw)] = value
        payloads.append(bytes(raw))
    ver = Verifier(world.trust)
    assert ver.verify_many(payloads, at=NOW) == [ver.verify(p, at=NOW) for p in payloads]
