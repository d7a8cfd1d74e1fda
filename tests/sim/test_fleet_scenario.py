"""Scenario files: the built-in ones load; a bad one is refused in one clear line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from sim.errors import ScenarioError
from sim.fleet import scenario

REQUIRED = {"normal-day", "xian-2021-12-20", "xian-2022-01-04", "partition"}


def test_builtin_scenarios_load() -> None:
    assert set(scenario.builtin_names()) >= REQUIRED
    for name in scenario.builtin_names():
        sc = scenario.load(name)
        assert sc.name == name
        assert sc.description
        assert abs(sum(w for _, w in sc.load.mix) - 1.0) < 1e-9


def test_builtins_are_what_they_say() -> None:
    assert scenario.load("normal-day").recovery_h() is None
    surge = scenario.load("xian-2021-12-20")
    assert [s.factor for s in surge.load.surges] == [10.0]
    down = scenario.load("xian-2022-01-04")
    assert down.centre.outages and down.centre.outages[0].to_h - down.centre.outages[0].from_h >= 2
    part = scenario.load("partition")
    assert [o.kind for o in part.centre.outages] == ["partition"]


def test_day_maps_story_hours_to_virtual_seconds() -> None:
    day = scenario.Day(start_h=6, end_h=22, length_s=1600)
    assert day.at(6) == 0 and day.at(22) == 1600 and day.at(14) == 800
    assert day.hour(400) == 10


BAD = [
    ("name = 3", "name = 3: must be a non-empty string"),
    ("[load]\nscans_per_terminal = -1", "load.scans_per_terminal = -1: must be >= 0.0"),
    ("[load.mix]\npurple = 1", "load.mix.purple: unknown code kind"),
    ("[load.mix]\nreplayed = 1", "a mix of only replays"),
    ("[centre]\noutages = [{kind = 'down', from_h = 12, to_h = 11}]",
     "centre.outages[0].to_h = 11: must be after from_h = 12"),
    ("[centre]\noutages = [{kind = 'meteor', from_h = 10, to_h = 11}]",
     "centre.outages[0].kind = 'meteor': allowed: down, blackhole, partition"),
    ("[centre]\noutages = [{kind = 'down', from_h = 10, to_h = 12},"
     " {kind = 'down', from_h = 11, to_h = 13}]", "overlap"),
    ("[centre]\noutages = [{kind = 'down', from_h = 1, to_h = 2}]", "must be within the day"),
    ("[uplink]\nbatch_interval_s = 0", "uplink.batch_interval_s=0.0: must be a number > 0"),
    ("[uplink]\ntoken = 'x'", "uplink.token: unknown key"),
    ("colour = 'red'", "colour: unknown key"),
    ("[day]\nstart_h = 20\nend_h = 8", "day.end_h = 8: must be after day.start_h = 20"),
    ("name = [", "not valid TOML"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_scenario_is_one_line(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text + "\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        scenario.load(str(path))
    text_out = str(err.value)
    assert "\n" not in text_out
    assert text_out.startswith(f"scenario {path}: ")
    assert message in text_out


def test_unknown_name_lists_the_builtins() -> None:
    with pytest.raises(ScenarioError, match=r"not a built-in scenario .*normal-day"):
        scenario.load("nowhere-day")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from device.cli.main import main; raise SystemExit(main())",
         "sim", "fleet", *args], capture_output=True, text=True, timeout=120)


def test_cli_bad_scenario_file_one_line_no_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[centre]\nheadroom = 'lots'\n", encoding="utf-8")
    r = _cli("--scenario", str(path))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert "centre.headroom = 'lots': must be a number" in lines[0]
    assert "Traceback" not in r.stderr


def test_cli_help_is_complete() -> None:
    r = _cli("--help")
    assert r.returncode == 0
    for option in ("--scenario", "--terminals", "--seed", "--report", "--shards", "--workers",
                   "--fleets", "--list"):
        assert option in r.stdout
    for name in REQUIRED:
        assert name in r.stdout
    assert "docs/fleet.md" in r.stdout


def test_cli_list() -> None:
    r = _cli("--list")
    assert r.returncode == 0
    assert {line.split()[0] for line in r.stdout.splitlines()} >= REQUIRED
