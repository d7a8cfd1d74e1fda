"""One error boundary: every command, given bad input, prints ONE line on standard error,
``scangate <command>: error: ...``, and exits non-zero; never a traceback.

Each command of the CLI (built-in, the ``sim`` group, any group added later) must have
bad inputs in ``BAD`` below: the test fails for a command that has none. The cases of
issue 12 are among them (a ScenarioError, an OverflowError and FileNotFoundErrors that
came out as tracebacks, an unknown --camera-backend that was silently ignored).
"""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from device.cli.main import build_parser, commands

SCANGATE = str(Path(sys.executable).with_name("scangate"))

#: command -> bad argument lists ("{tmp}" is a scratch directory holding the files below).
BAD: dict[str, list[list[str]]] = {
    "config check": [["config", "check", "/nope.toml"],
                     ["config", "check", "{tmp}/not-toml.toml"],
                     ["config", "check", "{tmp}/proc-state.toml"]],
    "decode": [["decode", "/nope.png"], ["decode", "--backend", "nope", "/nope.png"]],
    "provision enroll": [["provision", "enroll", "--config", "/nope.toml"],
                         ["provision", "enroll", "--config", "{tmp}/proc-state.toml"],
                         ["provision", "enroll", "--config", "{tmp}/proc-state.toml",
                          "--central", "http://x", "--token", "t", "--gate", "g",
                          "--ca-fingerprint", "ab"]],
    "provision replace": [["provision", "replace", "--config", "{tmp}/proc-state.toml",
                           "--voucher", "SGV1.junk"]],
    "provision retire": [["provision", "retire", "--config", "{tmp}/proc-state.toml"],
                         ["provision", "retire", "--config", "/nope.toml"]],
    "provision status": [["provision", "status", "--config", "/nope.toml"],
                         ["provision", "status", "--config", "{tmp}/proc-state.toml",
                          "--online"]],
    "run": [["run", "--config", "{tmp}/proc-state.toml"], ["run", "--config", "/nope.toml"],
            ["run"]],
    "scan": [["scan", "--camera", "sim:/nope", "--count", "1"],
             ["scan", "--serial", "/dev/nope", "--camera-backend", "bogus"],
             ["scan", "--camera", "0", "--camera-backend", "bogus"],
             ["scan", "--camera", "sim:scenes", "--camera-backend", "opencv"],
             ["scan", "--serial", "/dev/nope", "--count", "-1"]],
    "selftest": [["selftest"], ["selftest", "--pulse-ms", "-5"],
                 ["selftest", "--skip", "nope"], ["selftest", "--test-card", "/proc/x.png"]],
    "sim central": [["sim", "central", "--port", "99999"],
                    ["sim", "central", "--tls", "/proc/nope", "--port", "0"],
                    ["sim", "central", "--db", "/proc/nope/c.db", "--port", "0"],
                    ["sim", "central", "--port", "0", "--tls", "{tmp}/bad-tls"],
                    ["sim", "central", "--port", "0", "--fault", "partition:2"],
                    ["sim", "central", "--port", "0", "--fault", "meteor"],
                    ["sim", "central", "--port", "0", "--admin-port", "70000"]],
    "sim central export": [["sim", "central", "export", "--db", "/nope.db"],
                           ["sim", "central", "export", "--after", "soon"]],
    "sim issue": [["sim", "issue", "--keys", "/nope"], ["sim", "issue", "--valid", "forever"],
                  ["sim", "issue", "--status", "purple"], ["sim", "issue", "--count", "0"]],
    "sim fleet": [["sim", "fleet", "--scenario", "{tmp}/not-toml.toml"],
                  ["sim", "fleet", "--scenario", "nowhere-day"],
                  ["sim", "fleet", "--fleets", "bogus"], ["sim", "fleet", "--terminals", "0"],
                  ["sim", "fleet", "--report", "/proc/nope"]],
    "sim import-bundle": [["sim", "import-bundle", "/nope.sgbundle", "--ca", "/nope"]],
    "sim keys": [["sim", "keys", "/proc/nope"], ["sim", "keys"]],
    "sim revoke": [["sim", "revoke", "--ca", "/nope", "--terminal", "t"]],
    "sim run": [["sim", "run", "--dir", "/proc/nope", "--port", "0"],
                ["sim", "run", "--port", "70000"]],
    "sim serial": [["sim", "serial", "--interval", "0"], ["sim", "serial", "--keys", "/nope"]],
    "sim token": [["sim", "token", "--ca", "/nope", "--gate", "g"]],
    "verify": [["verify"], ["verify", "--cert", "/nope.pem", "SG1:X"]],
}
#: Errors before a command is chosen carry the program's name alone.
TOP_LEVEL = [["nosuchcommand"], [], ["--log-level"]]


def _files(tmp: Path) -> None:
    (tmp / "not-toml.toml").write_text("terminal_id = \n")
    (tmp / "proc-state.toml").write_text(
        'terminal_id = "t-1"\nstate_dir = "/proc/x"\n'
        '[[sources]]\ntype = "serial"\nport = "/dev/ttyACM0"\n'
        '[trust]\nroot_key = "root.pem"\n')
    (tmp / "bad-tls").mkdir()
    (tmp / "bad-tls" / "server.pem").write_text("not a cert")
    (tmp / "bad-tls" / "server.key").write_text("not a key")


def _run(args: list[str], tmp: Path) -> subprocess.CompletedProcess[str]:
    argv = [a.replace("{tmp}", str(tmp)) for a in args]
    env = {**os.environ, "SCANGATE_LOG_LEVEL": "WARNING"}
    return subprocess.run([SCANGATE, *argv], capture_output=True, text=True, timeout=60,
                          cwd=tmp, env=env, stdin=subprocess.DEVNULL)


def test_every_command_has_bad_inputs_here() -> None:
    assert sorted(BAD) == commands(build_parser())


@pytest.mark.parametrize("command", sorted(BAD))
def test_bad_input_is_one_line_never_a_traceback(command: str, tmp_path: Path) -> None:
    _files(tmp_path)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda a: (a, _run(a, tmp_path)), BAD[command]))
    for args, r in results:
        shown = f"scangate {' '.join(args)}\n--- stdout\n{r.stdout}--- stderr\n{r.stderr}"
        assert r.returncode != 0, shown
        assert "Traceback" not in r.stdout + r.stderr, shown
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert len(lines) == 1, shown
        assert lines[0].startswith(f"scangate {command}: error: "), shown
        assert len(lines[0]) > len(f"scangate {command}: error: ") + 10, shown


def test_errors_before_a_command_is_chosen(tmp_path: Path) -> None:
    for args in TOP_LEVEL:
        r = _run(args, tmp_path)
        lines = [x for x in r.stderr.splitlines() if x.strip()]
        assert r.returncode == 2 and len(lines) == 1, (args, r.stderr)
        assert lines[0].startswith("scangate: error: "), (args, r.stderr)


BUGGY = """
import sys
import device.cli.main as m

real = m.build_parser

def boom(args):
    raise ZeroDivisionError("division by zero")

def build():
    parser = real()
    next(p for p in m._leaves(parser) if p.prog == "scangate verify").set_defaults(func=boom)
    return parser

m.build_parser = build
sys.exit(m.main(sys.argv[1:]))
"""


def test_an_unexpected_error_is_one_line_and_the_traceback_is_for_debug() -> None:
    """A bug (an exception nobody raised on purpose) in a command: one line, exit 1."""
    r = subprocess.run([sys.executable, "-c", BUGGY, "verify", "x"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [
        "scangate verify: error: unexpected ZeroDivisionError: division by zero (a bug: run "
        "again with --log-level DEBUG for the details and report it)"]
    r = subprocess.run([sys.executable, "-c", BUGGY, "--log-level", "DEBUG", "verify", "x"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "Traceback" in r.stderr and "ZeroDivisionError" in r.stderr
