"""The demo issuer and demo keys, and ``scangate sim keys`` / ``scangate sim issue``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from device.clock import ManualClock
from device.verify.codecs import base45
from device.verify.codeformat import MAX_PAYLOAD_CHARS
from device.verify.keys import kid_for_public_key
from device.verify.verdict import Reason
from device.verify.verifier import Verifier
from sim.errors import SimError
from sim.issuer import Issuer, subject_ref_for
from sim.keys import DemoKeys, make_demo_keys

SCANGATE = Path(sys.executable).with_name("scangate")
NOW = 1_800_000_000.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoKeys:
    return make_demo_keys(tmp_path_factory.mktemp("demo"), now=NOW)


def test_demo_keys_layout_and_trust_list(demo: DemoKeys) -> None:
    for p in (demo.root_private, demo.root_public, demo.issuer_private, demo.issuer_public,
              demo.trust_list):
        assert p.exists(), p
    assert demo.root_private.stat().st_mode & 0o077 == 0  # private keys are not world-readable
    tl = demo.load_trust_list()
    assert tl.version == 1 and tl.issued_at == int(NOW) and tl.expires_at > NOW
    issuer = demo.issuer()
    assert [k.kid for k in tl.keys] == [issuer.kid]
    assert tl.keys[0].profiles == frozenset({"scangate"})
    assert issuer.kid == kid_for_public_key(issuer.private_key.public_key())


def test_minted_codes_verify_and_carry_no_name(demo: DemoKeys) -> None:
    issuer = demo.issuer()
    ref = subject_ref_for("ID 110101199003071234", salt=b"site-salt")
    code = issuer.mint("green", valid_s=120, now=NOW, subject_ref=ref)
    assert code.startswith("SG1:") and len(code) < 400
    assert set(code[4:]) <= set(base45.ALPHABET)  # QR alphanumeric mode
    v = Verifier(demo.load_trust_list()).verify(code, at=NOW + 1)
    assert v.reason is Reason.OK and v.subject_ref == ref.hex() and v.exp == int(NOW) + 120
    assert "110101" not in repr(v)
    assert subject_ref_for("x", b"a") != subject_ref_for("x", b"b")  # salted
    assert len(issuer.mint(now=NOW)) < MAX_PAYLOAD_CHARS


def test_code_ids_are_unique_unless_given(demo: DemoKeys) -> None:
    issuer = demo.issuer()
    ver = Verifier(demo.load_trust_list(), clock=ManualClock(now=NOW))
    ids = {ver.verify(issuer.mint(now=NOW)).code_id for _ in range(20)}
    assert len(ids) == 20
    assert ver.verify(issuer.mint(now=NOW, code_id="ab" * 8)).code_id == "ab" * 8


@pytest.mark.parametrize(("kw", "msg"), [
    ({"status": "blue"}, "status"), ({"valid_s": 0}, "positive"),
    ({"subject_ref": "Zhang San"}, "hex"), ({"code_id": b"short"}, "8..32"),
])
def test_mint_refuses_bad_arguments(demo: DemoKeys, kw: dict[str, object], msg: str) -> None:
    with pytest.raises(SimError, match=msg):
        demo.issuer().mint(**kw)  # type: ignore[arg-type]


def test_write_trust_list_new_version(demo: DemoKeys, tmp_path: Path) -> None:
    other = Issuer(__import__("tests.device.verifier_fixtures", fromlist=["x"]).ec_key())
    from device.verify.trustlist import SignerKey

    extra = SignerKey.from_public_key(other.private_key.public_key(), profiles={"scangate"})
    path = tmp_path / "v2.cose"
    demo.write_trust_list(2, issued_at=NOW, extra_keys=[extra], revoked=["CD" * 16], path=path)
    from device.verify.trustlist import TrustList

    tl = TrustList.from_bytes(path.read_bytes(), demo.root_public_key())
    assert tl.version == 2 and len(tl.keys) == 2 and tl.revoked == {"cd" * 16}


def test_open_missing_keys_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(SimError, match="scangate sim keys"):
        DemoKeys.open(tmp_path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCANGATE), *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_cli_keys_issue_png_and_verify(tmp_path: Path) -> None:
    keys_dir = tmp_path / "keys"
    r = run("sim", "keys", str(keys_dir))
    assert r.returncode == 0, r.stderr
    assert "trust list" in r.stdout
    r = run("sim", "keys", str(keys_dir))
    assert r.returncode == 2 and "--force" in r.stderr
    png = tmp_path / "code.png"
    r = run("sim", "issue", "--keys", str(keys_dir), "--status", "red", "--valid", "90s",
            "--png", str(png))
    assert r.returncode == 0, r.stderr
    payload = r.stdout.strip()
    assert payload.startswith("SG1:")
    import zxingcpp
    from PIL import Image

    with Image.open(png) as img:
        decoded = [res.text for res in zxingcpp.read_barcodes(img)]
    assert decoded == [payload]
    dk = DemoKeys.open(keys_dir)
    r = run("verify", "--trust-list", str(dk.trust_list), "--root-key", str(dk.root_public),
            "--json", payload)
    assert r.returncode == 1 and '"status_red"' in r.stdout
    v = Verifier(dk.load_trust_list()).verify(payload)
    assert v.exp is not None and v.iat is not None and v.exp - v.iat == 90


def test_cli_issue_errors(tmp_path: Path) -> None:
    r = run("sim", "issue", "--keys", str(tmp_path / "none"))
    assert r.returncode == 2 and "scangate sim keys" in r.stderr
    run("sim", "keys", str(tmp_path / "k"))
    r = run("sim", "issue", "--keys", str(tmp_path / "k"), "--valid", "soon")
    assert r.returncode == 2 and "duration" in r.stderr


def test_cli_issue_count_mints_many_distinct_codes_in_one_process(tmp_path: Path) -> None:
    keys_dir = tmp_path / "k"
    run("sim", "keys", str(keys_dir))
    r = run("sim", "issue", "--keys", str(keys_dir), "--count", "200", "--status", "yellow")
    assert r.returncode == 0, r.stderr
    payloads = r.stdout.splitlines()  # base45 has spaces: one code per line
    assert len(payloads) == 200 and all(p.startswith("SG1:") for p in payloads)
    ver = Verifier(DemoKeys.open(keys_dir).load_trust_list())
    verdicts = [ver.verify(p) for p in payloads]
    assert {v.status for v in verdicts} == {"yellow"} and all(v.profile for v in verdicts)
    assert len({v.code_id for v in verdicts}) == 200  # each its own code id
    for bad in (["--count", "0"], ["--count", "2", "--png", str(tmp_path / "x.png")],
                ["--count", "2", "--code-id", "ab" * 16]):
        r = run("sim", "issue", "--keys", str(keys_dir), *bad)
        assert r.returncode == 2 and "scangate sim issue: error:" in r.stderr, bad
