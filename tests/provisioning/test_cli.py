"""The new commands: --help, the README table, one clear line on bad input — and the whole
console flow as separate processes: `scangate sim central --ca`, `scangate sim token`,
`scangate provision enroll`, `scangate provision status --online`, `scangate sim revoke`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.provisioning.pki_kit import Pki, cli, terminal_config

ROOT = Path(__file__).resolve().parents[2]
SCANGATE = str(Path(sys.executable).with_name("scangate"))
COMMANDS = [["provision", "enroll"], ["provision", "replace"], ["provision", "status"],
            ["provision", "retire"], ["sim", "token"], ["sim", "revoke"],
            ["sim", "import-bundle"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c))
def test_help_and_readme(cmd: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli(capsys, *cmd, "--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: scangate {' '.join(cmd)}")
    readme = (ROOT / "README.md").read_text()
    group = f"scangate {cmd[0]} "
    rows = [line for line in readme.splitlines() if line.startswith(f"| `{group}")]
    assert any(cmd[1] in row.split("|")[1] for row in rows), f"{cmd} not in the README table"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [(["sim", "token", "--ca", "/nonexistent-ca", "--gate", "g"], "no CA in"),
     (["sim", "token", "--ca", "CA", "--gate", "bad gate"], "gate id"),
     (["sim", "token", "--ca", "CA", "--gate", "g", "--ttl", "0"], "lifetime"),
     (["sim", "revoke", "--ca", "CA", "--terminal", "nobody"], "no active certificate"),
     (["sim", "import-bundle", "missing.sgbundle", "--ca", "CA"], "cannot read"),
     (["sim", "import-bundle", "JUNK", "--ca", "CA"], "not a retire bundle"),
     (["provision", "status", "--config", "/nonexistent.toml"], "not found"),
     (["provision", "retire", "--config", "CONFIG"], "not enrolled"),
     (["provision", "enroll", "--config", "CONFIG", "--voucher", "@/nonexistent"],
      "cannot read the voucher")],
)
def test_bad_input_is_one_clear_line(argv: list[str], fragment: str, pki: Pki,
                                     tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.sgbundle"
    junk.write_bytes(b"\x1f\x8bnot gzip at all")
    config = terminal_config(tmp_path)
    subst = {"CA": str(pki.ca.dir), "JUNK": str(junk), "CONFIG": str(config)}
    argv = [subst.get(a, a) for a in argv]
    if argv[:2] != ["provision", "status"] and "--db" not in argv and argv[0] == "sim":
        argv += ["--db", str(tmp_path / "central.db")]
    rc, out, err = cli(capsys, *argv)
    assert rc == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and fragment in err, err
    assert "Traceback" not in err


def test_the_console_flow_as_separate_processes(tmp_path: Path, pki: Pki) -> None:
    ca_dir = tmp_path / "ca"
    db = tmp_path / "central.db"
    proc = subprocess.Popen(
        [SCANGATE, "sim", "central", "--ca", str(ca_dir), "--db", str(db), "--port", "0",
         "--trust-list", str(pki.keys.trust_list), "--trust-root", str(pki.keys.root_public)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        url = ""
        for _ in range(6):
            line = proc.stdout.readline()
            if line.startswith("central stand-in: "):
                url = line.split()[2]
                break
        assert url.startswith("https://127.0.0.1:")

        def run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([SCANGATE, *args], capture_output=True, text=True,
                                  timeout=60)

        minted = run("sim", "token", "--ca", str(ca_dir), "--db", str(db), "--gate",
                     "gate-9", "--url", url, "--json", "--voucher")
        assert minted.returncode == 0, minted.stderr
        doc = json.loads(minted.stdout)
        assert doc["voucher"].startswith("SGV1.")
        config = terminal_config(tmp_path, "t-proc")
        enrolled = run("provision", "enroll", "--config", str(config), "--voucher",
                       doc["voucher"])
        assert enrolled.returncode == 0, enrolled.stderr
        assert "t-proc enrolled at gate gate-9" in enrolled.stdout
        status = run("provision", "status", "--config", str(config), "--online", "--json")
        assert status.returncode == 0, status.stderr
        st = json.loads(status.stdout)
        assert st["centre_view"]["status"] == "active" and 29 < st["days_left"] <= 30
        revoked = run("sim", "revoke", "--ca", str(ca_dir), "--db", str(db), "--terminal",
                      "t-proc")
        assert revoked.returncode == 0 and "revoked 1 certificate" in revoked.stdout
        status = run("provision", "status", "--config", str(config), "--online")
        assert status.returncode == 2
        assert status.stderr.startswith("scangate provision status: error: refused (revoked)")
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=20)
    assert proc.returncode == 0
