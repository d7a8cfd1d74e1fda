"""``scangate verify`` as a user runs it: the real console script, real files."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from device.cli.main import main
from device.verify.verdict import REASON_TEXT, Reason
from sim.keys import DemoKeys, make_demo_keys
from tests.device.verifier_fixtures import dcc_samples, ec_key, make_cert

SCANGATE = Path(sys.executable).with_name("scangate")
SAMPLES = {s.name: s for s in dcc_samples()}


def scangate(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCANGATE), *args], input=stdin, capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoKeys:
    return make_demo_keys(tmp_path_factory.mktemp("keys"))


@pytest.fixture(scope="module")
def dcc_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("certs")
    at = SAMPLES["AT-1"].cert
    pem = d / "at.pem"
    from cryptography.hazmat.primitives.serialization import Encoding

    pem.write_bytes(at.public_bytes(Encoding.PEM))
    der = d / "se.der"
    der.write_bytes(SAMPLES["SE-1"].cert.public_bytes(Encoding.DER))
    return pem, der


def tl_args(demo: DemoKeys) -> list[str]:
    return ["--trust-list", str(demo.trust_list), "--root-key", str(demo.root_public)]


def test_console_script_exists() -> None:
    assert SCANGATE.exists(), "run `pip install -e .` so the scangate command exists"


def test_dcc_sample_with_cert_pem_at_clock(dcc_cert: tuple[Path, Path]) -> None:
    s = SAMPLES["AT-1"]
    r = scangate("verify", "--cert", str(dcc_cert[0]), "--at", "2021-05-06T18:00:00Z", s.prefix)
    assert r.returncode == 0, r.stderr
    zh, en = REASON_TEXT[Reason.OK]
    line = r.stdout.strip()
    assert line.startswith("通过") and line.index(zh) < line.index(en)
    assert "eu-dcc" in line


def test_json_multiple_certs_stdin(dcc_cert: tuple[Path, Path]) -> None:
    s1, s2 = SAMPLES["AT-1"], SAMPLES["SE-1"]
    r = scangate("verify", "--cert", str(dcc_cert[0]), "--cert", str(dcc_cert[1]),
                 "--at", "2021-06-16T09:50:03Z", "--json", stdin=f"{s1.prefix}\n\n{s2.prefix}\n")
    assert r.returncode == 0, r.stderr
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) == 2
    for o in objs:
        assert o["decision"] == "accept" and o["reason"] == "ok" and o["profile"] == "eu-dcc"
        for k in ("kid", "issuer", "iat", "exp"):
            assert o[k] is not None
    assert objs[0]["issuer"] == "AT" and objs[1]["issuer"] == "SE"


def test_one_denied_exits_1(dcc_cert: tuple[Path, Path]) -> None:
    s = SAMPLES["AT-1"]
    r = scangate("verify", "--cert", str(dcc_cert[0]), "--at", "2030-01-01T00:00:00Z", "--json",
                 stdin=f"{s.prefix}\nnot-a-code\n")
    assert r.returncode == 1
    reasons = [json.loads(line)["reason"] for line in r.stdout.splitlines()]
    assert reasons == ["expired", "unknown_format"]


def test_our_codes_with_trust_list(demo: DemoKeys) -> None:
    issuer = demo.issuer()
    green, yellow, red = (issuer.mint(s) for s in ("green", "yellow", "red"))
    r = scangate("verify", *tl_args(demo), "--json", stdin="\n".join([green, yellow, red]))
    assert r.returncode == 1
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(o["reason"], o["status"]) for o in objs] == [
        ("ok", "green"), ("status_yellow", "yellow"), ("status_red", "red")]
    assert all(o["profile"] == "scangate" and o["issuer"] == "scangate-demo" for o in objs)
    r = scangate("verify", *tl_args(demo), "--accept-yellow", yellow)
    assert r.returncode == 0 and r.stdout.startswith("通过")


def test_stale_trust_list_warns_and_can_deny(demo: DemoKeys) -> None:
    code = demo.issuer().mint(now=2_000_000_000)
    r = scangate("verify", *tl_args(demo), "--at", "2033-05-18T03:33:20Z", code)
    assert r.returncode == 0 and "trust list stale" in r.stdout
    assert "expired" in r.stderr and "信任列表" in r.stderr
    r = scangate("verify", *tl_args(demo), "--at", "2033-05-18T03:33:20Z", "--json",
                 "--stale-policy", "deny", code)
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "stale_trust_list"


def test_yellow_on_a_stale_list_same_reason_as_the_daemon(demo: DemoKeys) -> None:
    """One site policy (device.decide): stale list before yellow, as the daemon decides."""
    yellow = demo.issuer().mint("yellow", now=2_000_000_000)
    r = scangate("verify", *tl_args(demo), "--at", "2033-05-18T03:33:20Z", "--json",
                 "--stale-policy", "deny", yellow)
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "stale_trust_list"


@pytest.mark.parametrize(("args", "message"), [
    ([], "give --cert FILE"),
    (["--trust-list", "x.cose"], "needs --root-key"),
    (["--root-key", "x.pem", "--cert", "y"], "only used with --trust-list"),
    (["--cert", "/nonexistent/cert.pem"], "cannot read /nonexistent/cert.pem"),
    (["--cert", "{junk}"], "neither a public key nor"),
    (["--cert", "{good}", "--at", "yesterday"], "not an ISO 8601 time"),
    (["--trust-list", "{junk}", "--root-key", "{rootpem}"], "trust list rejected"),
    (["--trust-list", "/nonexistent.cose", "--root-key", "{rootpem}"], "cannot read trust list"),
])
def test_usage_errors_exit_2_with_advice(tmp_path: Path, demo: DemoKeys, args: list[str],
                                         message: str, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"junk")
    from device.verify import keys

    good = tmp_path / "good.pem"
    good.write_bytes(keys.public_key_pem(ec_key().public_key()))
    subst = {"{junk}": str(junk), "{good}": str(good), "{rootpem}": str(demo.root_public)}
    argv = ["verify", *[subst.get(a, a) for a in args], "SG1:ABC"]
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_no_payload_on_stdin_is_a_usage_error(demo: DemoKeys) -> None:
    r = scangate("verify", *tl_args(demo), stdin="\n")
    assert r.returncode == 2 and "no payload" in r.stderr


def test_cert_with_eku_via_cli(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.serialization import Encoding

    from device.verify.keys import kid_for_certificate
    from tests.device.verifier_fixtures import dcc_payload, resign

    s = SAMPLES["AT-1"]  # a vaccination certificate
    key = ec_key()
    cert = make_cert(key, eku=["1.3.6.1.4.1.1847.2021.1.1"])  # test-only signer
    path = tmp_path / "dsc.der"
    path.write_bytes(cert.public_bytes(Encoding.DER))
    payload = dcc_payload(resign(s.cose_bytes(), key, kid_for_certificate(cert)))
    r = scangate("verify", "--cert", str(path), "--at", "2021-05-06T18:00:00Z", "--json", payload)
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "key_usage"


def test_base64_cert_from_sample_round_trip(tmp_path: Path) -> None:
    import json as _json

    from tests.device.verifier_fixtures import DCC_DIR

    raw = _json.loads((DCC_DIR / "DE" / "1.json").read_text(encoding="utf-8"))
    der = tmp_path / "de.der"
    der.write_bytes(base64.b64decode(raw["TESTCTX"]["CERTIFICATE"]))
    r = scangate("verify", "--cert", str(der), "--at", raw["TESTCTX"]["VALIDATIONCLOCK"],
                 raw["PREFIX"])
    assert r.returncode == 0, r.stdout + r.stderr
