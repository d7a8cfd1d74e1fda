"""The trust list: signature, parsing, no rollback, atomic install, staleness."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

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
