"""The trust list: signature, parsing, no rollback, atomic install, staleness."""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from device.errors import KeyLoadError, TrustListError
from device.verify.codecs import cbor, cose
from device.verify.trustlist import SignerKey, TrustList, TrustStore, load_root_key
from sim.keys import sign_trust_list
from tests.device.verifier_fixtures import ec_key, make_cert, rsa_key

T0 = 1_800_000_000


Root = ec.EllipticCurvePrivateKey
Signers = list[SignerKey]


@pytest.fixture(scope="module")
def root() -> Root:
    return ec_key()


@pytest.fixture(scope="module")
def signers() -> list[SignerKey]:
    bare = SignerKey.from_public_key(ec_key().public_key(), profiles={"scangate"},
                                     label="issuer", not_before=T0 - 10, not_after=T0 + 10)
    cert = SignerKey.from_certificate(make_cert(ec_key(), eku=["1.3.6.1.4.1.1847.2021.1.1"]),
                                      profiles={"eu-dcc"})
    rsa_signer = SignerKey.from_certificate(make_cert(rsa_key()), profiles={"eu-dcc"})
    return [bare, cert, rsa_signer]


def signed(root: Root, signers: Signers, version: int = 1,
           revoked: tuple[str, ...] = ("AB" * 16,)) -> bytes:
    return sign_trust_list(root, version, T0, T0 + 3600, signers, revoked)


def test_round_trip(root: Root, signers: Signers) -> None:
    data = signed(root, signers, 7)
    tl = TrustList.from_bytes(data, root.public_key())
    assert (tl.version, tl.issued_at, tl.expires_at) == (7, T0, T0 + 3600)
    assert tl.raw == data
    assert tl.revoked == frozenset({"ab" * 16})
    assert [k.kid for k in tl.keys] == [k.kid for k in signers]
    assert [k.profiles for k in tl.keys] == [k.profiles for k in signers]
    bare, cert, _ = tl.keys
    assert bare.certificate is None and bare.label == "issuer"
    assert (bare.not_before, bare.not_after) == (T0 - 10, T0 + 10)
    assert cert.certificate == signers[1].certificate
    assert bare.public_key.public_numbers() == signers[0].public_key.public_numbers()


def test_stale(root: Root, signers: Signers) -> None:
    tl = TrustList.from_bytes(signed(root, signers), root.public_key())
    assert not tl.is_stale(T0 + 3600)
    assert tl.is_stale(T0 + 3601)


def test_bad_signature_refused(root: Root, signers: Signers) -> None:
    other = ec_key()
    with pytest.raises(TrustListError, match="not signed by the pinned root"):
        TrustList.from_bytes(signed(other, signers), root.public_key())
    data = bytearray(signed(root, signers))
    data[-70] ^= 1  # inside the payload or signature
    with pytest.raises(TrustListError):
        TrustList.from_bytes(bytes(data), root.public_key())


@pytest.mark.parametrize("cut", [1, 10, 100, 500])
def test_truncated_refused(root: Root, signers: Signers, cut: int) -> None:
    data = signed(root, signers)
    with pytest.raises(TrustListError, match="truncated"):
        TrustList.from_bytes(data[:-cut], root.public_key())


@pytest.mark.parametrize("body", [
    {"format": 2, "version": 1, "issued_at": 1, "expires_at": 2, "keys": []},
    {"format": 1, "version": -1, "issued_at": 1, "expires_at": 2, "keys": []},
    {"format": 1, "version": 1, "issued_at": 5, "expires_at": 2, "keys": []},
    {"format": 1, "version": 1, "issued_at": 1, "expires_at": 2, "keys": {}},
    {"format": 1, "version": 1, "issued_at": 1, "expires_at": 2, "keys": [{"profiles": ["x"]}]},
    {"format": 1, "version": 1, "issued_at": 1, "expires_at": 2, "keys": [
        {"profiles": ["scangate"], "spki": b"junk"}]},
    {"format": 1, "version": 1, "issued_at": 1, "expires_at": 2, "keys": [], "revoked": [1]},
    [1, 2, 3],
])
def test_malformed_content_refused(root: Root, body: object) -> None:
    data = cose.sign1(cbor.encode(body), root, b"root")
    with pytest.raises(TrustListError):
        TrustList.from_bytes(data, root.public_key())


def test_store_install_load_and_no_rollback(
        tmp_path: Path, root: Root, signers: Signers) -> None:
    path = tmp_path / "trust" / "list.cose"
    store = TrustStore(path, root.public_key())
    assert store.load() is None
    v2 = store.install(signed(root, signers, 2))
    assert v2.version == 2 and path.read_bytes() == v2.raw
    for old in (1, 2):
        with pytest.raises(TrustListError, match="rollback"):
            store.install(signed(root, signers, old))
    assert path.read_bytes() == v2.raw
    # a fresh store (after a reboot) also refuses the rollback: it reads the disk
    store2 = TrustStore(path, root.public_key())
    with pytest.raises(TrustListError, match="rollback"):
        store2.install(signed(root, signers, 1))
    assert store2.install(signed(root, signers, 3)).version == 3
    assert TrustStore(path, root.public_key()).load().version == 3  # type: ignore[union-attr]
    assert [p.name for p in path.parent.iterdir()] == ["list.cose"]  # no temp files left


def test_bad_or_truncated_file_never_replaces_the_good_one(
        tmp_path: Path, root: Root, signers: Signers) -> None:
    path = tmp_path / "list.cose"
    store = TrustStore(path, root.public_key())
    good = store.install(signed(root, signers, 5)).raw
    with pytest.raises(TrustListError):
        store.install(signed(ec_key(), signers, 6))  # signed by someone else
    with pytest.raises(TrustListError):
        store.install(signed(root, signers, 6)[:-40])  # half-written download
    with pytest.raises(TrustListError):
        store.install(b"")
    assert path.read_bytes() == good
    assert store.current is not None and store.current.version == 5
    assert sorted(os.listdir(tmp_path)) == ["list.cose"]


def test_load_of_a_corrupted_file_raises_and_install_recovers(
        tmp_path: Path, root: Root, signers: Signers) -> None:
    path = tmp_path / "list.cose"
    path.write_bytes(b"garbage")
    store = TrustStore(path, root.public_key())
    with pytest.raises(TrustListError):
        store.load()
    assert store.install(signed(root, signers, 1)).version == 1


def test_load_root_key(tmp_path: Path, root: Root) -> None:
    from device.verify import keys

    pem = tmp_path / "root.pub.pem"
    pem.write_bytes(keys.public_key_pem(root.public_key()))
    assert load_root_key(pem).public_numbers() == root.public_key().public_numbers()
    der = tmp_path / "root.der"
    der.write_bytes(keys.spki_der(root.public_key()))
    assert load_root_key(der).public_numbers() == root.public_key().public_numbers()
    with pytest.raises(KeyLoadError, match="cannot read"):
        load_root_key(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_bytes(b"not a key")
    with pytest.raises(KeyLoadError, match="neither a public key nor"):
        load_root_key(junk)


# ----------------------------------------------------- docs/trust-list.md, "Edge cases"

DOC = Path(__file__).resolve().parents[2] / "docs" / "trust-list.md"
_ROW = re.compile(r"^\| `([a-z0-9-]+)` \| (.+?) \| (accepted|rejected|skipped)(?:: `(.+?)`)? \|$")
_EXPIRES = T0 + 86400


def _doc_cases() -> dict[str, tuple[str, str]]:
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("## Edge cases"):]
    return {m.group(1): (m.group(3), m.group(4) or "")
            for m in map(_ROW.match, table.splitlines()) if m}


def _body(entries: list[dict[str, Any]], **changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"format": 1, "version": 1, "issued_at": T0, "expires_at": _EXPIRES,
                            "keys": entries, "revoked": []}
    body.update(changes)
    return body


def _sign(root: Root, body: dict[str, Any], *, tag: str = "18") -> bytes:
    data = cose.sign1(cbor.encode(body), root, b"root-kid")
    if tag == "none":
        return cbor.encode(cbor.decode(data).value)
    if tag == "61":
        return cbor.encode(cbor.Tag(61, cbor.decode(data)))
    return data


def _der(cert: Any) -> bytes:
    return bytes(cert.public_bytes(serialization.Encoding.DER))


def _spki(key: Any) -> bytes:
    return bytes(key.public_bytes(serialization.Encoding.DER,
                                  serialization.PublicFormat.SubjectPublicKeyInfo))


def _ed25519_cert() -> Any:
    key = ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ed25519 DSC")])
    return (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1)
            .not_valid_before(dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
            .not_valid_after(dt.datetime(2040, 1, 1, tzinfo=dt.UTC)).sign(key, None))


CERT_NB = dt.datetime(2020, 1, 1, tzinfo=dt.UTC).timestamp()  # make_cert's defaults
CERT_NA = dt.datetime(2040, 1, 1, tzinfo=dt.UTC).timestamp()


def _case_list(case: str, root: Root) -> bytes:
    """The signed list each documented case describes (one good entry plus the case)."""
    good_key = ec_key()
    good = {"spki": _spki(good_key.public_key()), "profiles": ["scangate"], "label": "good"}
    cert = make_cert(ec_key())
    entry: dict[str, Any] = {"cert": _der(cert), "profiles": ["eu-dcc"], "label": case}
    changes: dict[str, Any] = {}
    tag = "18"
    if case == "cert-and-spki":
        entry["spki"] = _spki(cert.public_key())
    elif case == "neither":
        del entry["cert"]
    elif case == "spki-is-a-certificate":
        entry = {"spki": _der(cert), "profiles": ["eu-dcc"]}
    elif case == "cert-garbage":
        entry["cert"] = b"\x30\x03\x02\x01\x00"
    elif case == "cert-not-bytes":
        entry["cert"] = "MIIB..."
    elif case == "ed25519-cert":
        entry["cert"] = _der(_ed25519_cert())
    elif case == "ed25519-spki":
        entry = {"spki": _spki(ed25519.Ed25519PrivateKey.generate().public_key()),
                 "profiles": ["eu-dcc"]}
    elif case == "secp256k1-spki":
        entry = {"spki": _spki(ec.generate_private_key(ec.SECP256K1()).public_key()),
                 "profiles": ["eu-dcc"]}
    elif case == "empty-window":
        entry = {**good, "not_before": T0 + 10, "not_after": T0}
    elif case == "window-outside-cert":
        entry["not_before"] = int(CERT_NA) + 10
    elif case == "wider-window":
        entry.update(not_before=int(CERT_NB) - 1000, not_after=int(CERT_NA) + 1000)
    elif case == "narrower-window":
        entry.update(not_before=T0 - 100, not_after=T0 + 100)
    elif case == "revoked-upper-case":
        changes["revoked"] = ["AB" * 16]
    elif case in ("untagged", "tag-61"):
        tag = "none" if case == "untagged" else "61"
    elif case == "unknown-profile":
        entry["profiles"] = ["other"]
    elif case == "format-2":
        changes["format"] = 2
    elif case == "expires-before-issued":
        changes["expires_at"] = T0
    elif case == "revoked-not-text":
        changes["revoked"] = [b"\xab" * 16]
    elif case == "other-root":
        return _sign(ec_key(), _body([good, entry]))
    else:
        raise AssertionError(f"no list for documented case {case!r}")
    return _sign(root, _body([good, entry], **changes), tag=tag)


def test_every_documented_trust_list_case_holds(root: Root) -> None:
    cases = _doc_cases()
    assert len(cases) >= 20, "the Edge cases table of docs/trust-list.md was not found"
    for case, (outcome, text) in cases.items():
        data = _case_list(case, root)
        if outcome == "rejected":
            with pytest.raises(TrustListError, match=re.escape(text)):
                TrustList.from_bytes(data, root.public_key())
            continue
        tl = TrustList.from_bytes(data, root.public_key())
        labels = [k.label for k in tl.keys]
        if outcome == "skipped":
            assert len(tl.skipped) == 1 and text in tl.skipped[0], (case, tl.skipped)
            assert "keys[1]" in tl.skipped[0] and len(tl.keys) == 1, case
            assert labels == ["good"] or case == "empty-window"
        else:
            assert tl.skipped == () and len(tl.keys) == 2, case


def test_window_narrows_never_widens(root: Root) -> None:
    for case, want in (("wider-window", (CERT_NB, CERT_NA)),
                       ("narrower-window", (T0 - 100.0, T0 + 100.0))):
        key = TrustList.from_bytes(_case_list(case, root), root.public_key()).keys[1]
        assert (key.not_before, key.not_after) == want, case
    # the same holds for a SignerKey built in code, whatever path builds it
    cert = make_cert(ec_key())
    wide = SignerKey.from_certificate(cert, not_before=0, not_after=CERT_NA * 2)
    assert (wide.not_before, wide.not_after) == (CERT_NB, CERT_NA)
    direct = SignerKey(b"k" * 8, cert.public_key(), frozenset({"eu-dcc"}),  # type: ignore[arg-type]
                       not_before=None, not_after=None, certificate=cert)
    assert (direct.not_before, direct.not_after) == (CERT_NB, CERT_NA)


def test_a_wider_window_does_not_let_an_expired_certificate_verify(root: Root) -> None:
    from device.verify.verdict import Reason
    from device.verify.verifier import Verifier
    from sim.issuer import Issuer

    key = ec_key()
    cert = make_cert(key, not_before=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                     not_after=dt.datetime(2021, 1, 1, tzinfo=dt.UTC))
    entry = {"cert": _der(cert), "profiles": ["scangate"], "not_after": T0 + 10**6}
    tl = TrustList.from_bytes(_sign(root, _body([entry])), root.public_key())
    code = Issuer(key, kid=tl.keys[0].kid).mint(now=T0)
    assert Verifier(tl).verify(code, at=T0).reason is Reason.EXPIRED


def test_revoked_ids_match_whatever_their_case(root: Root) -> None:
    tl = TrustList.from_bytes(_case_list("revoked-upper-case", root), root.public_key())
    assert tl.revoked == frozenset({"ab" * 16})


def test_skipped_entries_are_logged_by_the_store(root: Root, tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    store = TrustStore(tmp_path / "tl.cose", root.public_key())
    with caplog.at_level("WARNING", logger="device.verify.trustlist"):
        store.install(_case_list("ed25519-cert", root))
        store.load()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2 and all("Ed25519 keys are not supported" in w for w in warnings)
    assert "keys[1] (ed25519-cert) kid " in warnings[0]
