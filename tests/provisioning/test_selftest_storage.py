"""Self-test, local state: disk space, journal integrity (a real SQLite journal, corrupted
for real), trust-list age, clock quality from the time floor file."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from device.journal import Journal
from provisioning.selftest.daemon import RunningDaemon
from provisioning.selftest.result import Status
from tests.device.uplink_support import fill
from tests.provisioning.selftest_support import DAY, by_name, run, write_config, write_trust

LOCAL = frozenset({"camera", "readers", "gate", "centre"})


def _config(tmp: Path, *, trust: tuple[Path, Path] | None = None, **kw: Any) -> Path:
    return write_config(tmp, sources=[{"type": "serial", "port": str(tmp / "none")}],
                        trust=trust or write_trust(tmp / "trust"), **kw)


def _journal(tmp: Path, n: int = 5, *, t0: float | None = None) -> Path:
    path = tmp / "state" / "journal.db"
    j = Journal(path, terminal_id="selftest-0001", min_free_bytes=0, quota_bytes=64 * 2**20)
    try:
        fill(j, n, t0=t0)
    finally:
        j.close()
    return path


# --------------------------------------------------------------------------- disk


def test_disk_space_pass_warn_fail(tmp_path: Path) -> None:
    free_mb = shutil.disk_usage(tmp_path).free / 2**20
    ok = by_name(run(_config(tmp_path), skip=LOCAL))["disk space"]
    assert ok.status is Status.PASS and "free on" in ok.detail
    # the journal may still grow past the free space: WARN
    grow = by_name(run(_config(tmp_path, journal={"quota_mb": int(free_mb) + 10_240}),
                       skip=LOCAL))["disk space"]
    assert grow.status is Status.WARN and "may still grow" in grow.detail
    assert "journal.quota_mb" in grow.remedy
    # below journal.min_free_mb: the journal stops storing decisions
    short = by_name(run(_config(tmp_path, journal={"min_free_mb": int(free_mb) + 10_240}),
                        skip=LOCAL))["disk space"]
    assert short.status is Status.FAIL and "stops storing" in short.detail
    assert "Free space" in short.remedy


# --------------------------------------------------------------------------- journal


def test_no_journal_yet_is_skipped(tmp_path: Path) -> None:
    line = by_name(run(_config(tmp_path), skip=LOCAL))["journal"]
    assert line.status is Status.SKIP and "no journal yet" in line.detail
    assert not (tmp_path / "state" / "journal.db").exists()  # nothing created


def test_healthy_journal_passes_with_counts(tmp_path: Path) -> None:
    path = _journal(tmp_path, 7, t0=time.time() - 60)
    before = path.read_bytes()
    line = by_name(run(_config(tmp_path), skip=LOCAL))["journal"]
    assert line.status is Status.PASS, line
    assert line.detail.startswith("integrity_check ok; 7 records, 7 waiting for upload")
    assert "mode 0600" in line.detail
    assert path.read_bytes() == before  # read-only


def test_quick_check_while_the_daemon_runs(tmp_path: Path) -> None:
    _journal(tmp_path, 2, t0=time.time())
    line = by_name(run(_config(tmp_path), skip=LOCAL,
                       daemon=RunningDaemon(via="test", status={})))["journal"]
    assert line.status is Status.PASS and line.detail.startswith("quick_check ok")


def test_records_stuck_for_a_day_warn(tmp_path: Path) -> None:
    _journal(tmp_path, 3, t0=time.time() - 3 * DAY)
    line = by_name(run(_config(tmp_path), skip=LOCAL))["journal"]
    assert line.status is Status.WARN and "over a day" in line.detail


def test_journal_readable_by_others_warns(tmp_path: Path) -> None:
    path = _journal(tmp_path, 1, t0=time.time())
    path.chmod(0o644)
    line = by_name(run(_config(tmp_path), skip=LOCAL))["journal"]
    assert line.status is Status.WARN
    assert f"chmod 600 {path}" in line.remedy


@pytest.fixture(scope="module")
def big_journal(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A checkpointed journal of 400 records (made once: every record is an fsync)."""
    return _journal(tmp_path_factory.mktemp("big"), 400, t0=time.time()).read_bytes()


@pytest.mark.parametrize("damage", ["garbled", "text", "truncated"])
def test_damaged_journal_fails_and_says_what_to_do(tmp_path: Path, damage: str,
                                                   big_journal: bytes) -> None:
    path = tmp_path / "state" / "journal.db"
    path.parent.mkdir()
    data = bytearray(big_journal)
    if damage == "garbled":  # a page in the middle overwritten
        start = len(data) // 2
        data[start:start + 4096] = b"\xa5" * 4096
    elif damage == "text":
        data = bytearray(b"this is not a database\n" * 100)
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    line = by_name(run(_config(tmp_path), skip=LOCAL))["journal"]
    assert line.status is Status.FAIL, line
    assert "damaged" in line.detail
    assert "systemctl restart scangate" in line.remedy


# --------------------------------------------------------------------------- trust list


def test_trust_list_states(tmp_path: Path) -> None:
    good = by_name(run(_config(tmp_path), skip=LOCAL))["trust list"]
    assert good.status is Status.PASS
    assert good.detail.startswith("version 3, issued 24.0 h ago, expires in 30.0 days")

    soon = by_name(run(_config(tmp_path / "a", trust=write_trust(tmp_path / "a/t",
                                                                 expires_days=0.2)),
                       skip=LOCAL))["trust list"]
    assert soon.status is Status.WARN and "expires in 4.8 h" in soon.detail

    stale = write_trust(tmp_path / "b/t", issued_days=-10, expires_days=-2)
    accept = by_name(run(_config(tmp_path / "b", trust=stale), skip=LOCAL))["trust list"]
    assert accept.status is Status.WARN and "EXPIRED" in accept.detail
    deny = by_name(run(_config(tmp_path / "b", trust=stale,
                               policy={"stale_trust_list": "deny"}), skip=LOCAL))["trust list"]
    assert deny.status is Status.FAIL and "denies every code" in deny.detail


def test_missing_or_foreign_trust_list_fails(tmp_path: Path) -> None:
    pub, path = write_trust(tmp_path / "t")
    path.unlink()
    missing = by_name(run(_config(tmp_path, trust=(pub, path)), skip=LOCAL))["trust list"]
    assert missing.status is Status.FAIL and "no trust list installed" in missing.detail
    _, foreign = write_trust(tmp_path / "other", root=ec.generate_private_key(ec.SECP256R1()))
    bad = by_name(run(_config(tmp_path, trust=(pub, foreign)), skip=LOCAL))["trust list"]
    assert bad.status is Status.FAIL and "does not verify" in bad.detail


# --------------------------------------------------------------------------- clock


def test_clock_quality_from_the_floor_file(tmp_path: Path) -> None:
    line = by_name(run(_config(tmp_path), skip=LOCAL))["clock"]
    assert line.status is Status.WARN and "unsure" in line.detail  # nothing ever vouched
    floor = tmp_path / "state" / "timefloor.json"
    floor.parent.mkdir(exist_ok=True)
    floor.write_text(json.dumps({"version": 1, "floor_t": time.time() + 3 * DAY,
                                 "floor_source": "central-date", "trusted_ever": True}))
    before = floor.read_text()
    line = by_name(run(_config(tmp_path), skip=LOCAL))["clock"]
    assert line.status is Status.WARN, line
    assert "floor" in line.detail and "behind known-good time" in line.detail
    assert "timedatectl set-ntp true" in line.remedy
    assert floor.read_text() == before  # read, never written


def test_clock_quality_of_the_running_daemon(tmp_path: Path) -> None:
    daemon = RunningDaemon(via="test", status={"clock": {"quality": "synced",
                                                         "last_sync_age_s": 30.0}})
    line = by_name(run(_config(tmp_path), skip=LOCAL, daemon=daemon))["clock"]
    assert line.status is Status.PASS and "from the running daemon" in line.detail
