"""``scangate verify`` as a user runs it: the real console script, real files."""

from __future__ import annotations

import base64
import json
import re
import select
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


# ------------------------------------------- the --json contract (docs/verifier-api.md)

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "verifier-api.md"
_JSON_ROW = re.compile(
    r"^\| `([a-z_]+)` \| (string|integer|array of strings) \| (.+?) \| (.+?) \|$")
_TYPES = {"string": str, "integer": int, "array of strings": list}


def _json_schema() -> list[tuple[str, type, str]]:
    text = API_DOC.read_text(encoding="utf-8")
    table = text[text.index("### `--json` output"):text.index("## Performance")]
    return [(m.group(1), _TYPES[m.group(2)], m.group(4))
            for m in map(_JSON_ROW.match, table.splitlines()) if m]


def test_json_output_follows_the_documented_schema(demo: DemoKeys) -> None:
    schema = _json_schema()
    assert [k for k, _, _ in schema][:4] == ["decision", "reason", "message_zh", "message_en"]
    issuer = demo.issuer()
    later = 2_000_000_000
    good, yellow = issuer.mint("green", now=later), issuer.mint("yellow", now=later)
    from sim.issuer import Issuer

    forged = Issuer(ec_key(), kid=issuer.kid).mint(now=later)  # the right kid, another key
    stdin = "\n".join([good, yellow, "hello", forged, issuer.mint(now=later - 10**6),
                       "SG1:ÄÖÜ", "SG1:"]) + "\n"
    # the list is stale at `later`: every verdict carries the warning
    r = scangate("verify", *tl_args(demo), "--json", "--at", "2033-05-18T03:33:20Z",
                 stdin=stdin)
    assert r.returncode == 1
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert [o["reason"] for o in objs] == ["ok", "status_yellow", "unknown_format",
                                          "bad_signature", "expired", "unknown_format",
                                          "bad_compression"]
    for o in objs:
        assert list(o) == [k for k, _, _ in schema], "keys, in the documented order"
        for key, typ, null_when in schema:
            if o[key] is None:
                assert null_when != "never", (key, o)
            else:
                assert isinstance(o[key], typ), (key, o[key])
        assert "subject_ref" not in o
        assert o["warnings"] == ["trust_list_stale"]
    assert objs[0]["status"] == "green" and objs[0]["cert_type"] is None
    assert objs[0]["detail"] == "" and objs[0]["profile"] == "scangate"
    assert objs[2]["profile"] is None and objs[5]["profile"] is None
    assert objs[3]["profile"] == "scangate" and objs[3]["issuer"] is None  # before signature
    assert objs[6]["profile"] == "scangate" and objs[6]["kid"] is None


def test_json_line_is_exactly_json_dumps() -> None:
    from device.cli.commands.verify import json_line
    from device.verify.verdict import Decision, new_verdict

    tricky = ['he said "hi"', "back\\slash", "tab\tnew\nline\x00\x1f", "通过 ünïcode 🚪", ""]
    for i, text in enumerate(tricky):
        for reason in (Reason.OK, Reason.EXPIRED, Reason.STALE_TRUST_LIST):
            v = new_verdict(Decision.ACCEPT if reason is Reason.OK else Decision.DENY, reason,
                            "eu-dcc" if i % 2 else None, b"\x00\xff" * 4 if i else None,
                            text or None, i or None, 2**40 + i, None if i % 2 else "red",
                            text, "secret-subject", "v" if i % 2 else None, text,
                            ("trust_list_stale",) * (i % 2))
            assert json_line(v) == json.dumps(v.to_json(), ensure_ascii=False)


def test_blank_lines_are_skipped_and_print_nothing(demo: DemoKeys) -> None:
    code = demo.issuer().mint()
    r = scangate("verify", *tl_args(demo), stdin=f"\n  \n\t\r\n{code}\n\n \n{code}")
    assert r.returncode == 0, r.stderr
    assert len(r.stdout.splitlines()) == 2


def test_non_ascii_argument_is_unknown_format_as_documented(demo: DemoKeys) -> None:
    r = scangate("verify", *tl_args(demo), "--json", "SG1:ÄÖÜ")
    assert r.returncode == 1 and json.loads(r.stdout)["reason"] == "unknown_format"
    rb = subprocess.run([str(SCANGATE), "verify", *tl_args(demo), "--json"],
                        input=b"SG1:\xc4\xd6\n\xff\xfe\n", capture_output=True, timeout=60,
                        check=False)
    assert [json.loads(line)["reason"] for line in rb.stdout.splitlines()] == [
        "unknown_format", "unknown_format"]
    assert b"Traceback" not in rb.stderr


def test_min_version_refuses_an_older_list(demo: DemoKeys) -> None:
    code = demo.issuer().mint()
    r = scangate("verify", *tl_args(demo), "--min-version", "2", code)
    assert r.returncode == 2 and "older than --min-version 2" in r.stderr
    assert "Traceback" not in r.stderr
    r = scangate("verify", *tl_args(demo), "--min-version", "1", code)
    assert r.returncode == 0, r.stderr
    r = scangate("verify", "--cert", str(demo.issuer_public), "--min-version", "1", code)
    assert r.returncode == 2 and "only used with --trust-list" in r.stderr


def test_unusable_key_entry_is_skipped_with_a_warning(tmp_path: Path) -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from device.verify.trustlist import SignerKey

    demo = make_demo_keys(tmp_path / "keys")
    ed = SignerKey.from_public_key(ec_key().public_key(), profiles={"eu-dcc"}, label="ed")
    object.__setattr__(ed, "public_key", ed25519.Ed25519PrivateKey.generate().public_key())
    demo.write_trust_list(2, extra_keys=[ed])
    r = scangate("verify", *tl_args(demo), demo.issuer().mint())
    assert r.returncode == 0, r.stderr
    assert "warning: trust list version 2: keys[1] (ed) kid" in r.stderr
    assert "Ed25519 keys are not supported" in r.stderr


def test_verdicts_come_back_one_at_a_time_for_a_reader_that_sends_one(demo: DemoKeys) -> None:
    """Each line is answered (flushed) before the next is sent: no waiting for a batch."""
    issuer = demo.issuer()
    proc = subprocess.Popen([str(SCANGATE), "verify", *tl_args(demo)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    try:
        for _ in range(3):
            proc.stdin.write(issuer.mint().encode() + b"\n")
            proc.stdin.flush()
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "no verdict line within 30 s of sending one code"
            assert proc.stdout.readline().decode().startswith("通过")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        proc.wait()


def test_closed_stdout_ends_quietly(demo: DemoKeys) -> None:
    codes = [demo.issuer().mint() for _ in range(50)]
    proc = subprocess.Popen([str(SCANGATE), "verify", *tl_args(demo)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        proc.stdin.write(codes[0].encode() + b"\n")
        proc.stdin.flush()
        proc.stdout.readline()
        proc.stdout.close()  # the reader goes away, like `| head -1`
        try:
            proc.stdin.write(("\n".join(codes * 100) + "\n").encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # it may already have stopped reading
        assert proc.wait(timeout=60) == 1  # device.cli.main: a closed pipe is not an error
        assert b"Traceback" not in proc.stderr.read()
    finally:
        proc.kill()
        proc.wait()


def test_text_stdin_without_a_buffer(demo: DemoKeys, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    """A stdin replaced by a text stream (no .buffer) is read line by line, same output."""
    import io

    code = demo.issuer().mint()
    monkeypatch.setattr(sys, "stdin", io.StringIO(f"{code}\n\n  \nSG1:ÄÖÜ\n"))
    assert main(["verify", *tl_args(demo), "--json"]) == 1
    reasons = [json.loads(line)["reason"] for line in capsys.readouterr().out.splitlines()]
    assert reasons == ["ok", "unknown_format"]


def test_human_line_says_each_thing_once() -> None:
    # "通过：通过 | ACCEPT: Valid" repeated the headline as the reason (issue 12)
    from device.cli.commands.verify import human_line
    from device.verify.verdict import Decision, Verdict

    ok = human_line(Verdict(decision=Decision.ACCEPT, reason=Reason.OK, profile="scangate"))
    assert ok.startswith("通过 | ACCEPT: Valid (ok;") and "通过：通过" not in ok
    red = human_line(Verdict(decision=Decision.DENY, reason=Reason.STATUS_RED,
                             profile="scangate"))
    assert red.startswith("拒绝：红码 | DENY: Red status (status_red;")
