"""Retire with a verified receipt and no record lost — online, and through an exported
bundle imported at the centre; a receipt that does not cover every record refuses the
wipe; replace moves a gate to a new terminal and revokes the old one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from device.identity import IdentityStore
from sim.central import CentralServer
from tests.provisioning.pki_kit import (
    Pki,
    cli,
    enrol_args,
    enrol_now,
    make_journal,
    reload,
    run,
    snapshot,
    terminal_config,
    upload_all,
)


def wiped(config: Path) -> bool:
    cfg = reload(config)
    store = IdentityStore(cfg.identity.dir)
    return (not store.key_path.exists() and not store.dir.exists()
            and not cfg.journal.path.exists())


def identity_and_records(config: Path) -> tuple[object, ...]:
    from device.journal.export import summarise

    cfg = reload(config)
    return (snapshot(cfg.identity.dir), summarise(cfg.journal.path, cfg.terminal_id))


def test_retire_online_uploads_everything_then_wipes(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    cfg = reload(config)
    first = make_journal(cfg, 20)
    run(upload_all(cfg))  # some records were uploaded long ago ...
    rest = make_journal(cfg, 30)  # ... the rest is the backlog
    assert centre.store.record_count("t-1") == 20
    rc, out, err = cli(capsys, "provision", "retire", "--config", str(config))
    assert rc == 0, err
    assert "uploading 30 records" in out and "retired" in out and "wiped" in out
    # No record lost, none twice.
    assert sorted(centre.store.record_ids("t-1")) == sorted(first + rest)
    assert centre.store.max_times_received() == 1
    assert wiped(config)
    receipt = json.loads((cfg.state_dir / "retire-receipt.json").read_text())
    assert receipt["claim"]["count"] == 50 and receipt["claim"]["last_seq"] == 50
    assert receipt["records_held"] == 50
    assert len(centre.provisioning.retirements()) == 1


def test_retire_through_a_bundle_when_the_centre_is_unreachable(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    cfg = reload(config)
    ids = make_journal(cfg, 25)
    db = centre.db_path
    centre.stop()  # the site has no network today
    bundle = tmp_path / "usb" / "t-1.sgbundle"
    before = identity_and_records(config)
    rc, out, err = cli(capsys, "provision", "retire", "--config", str(config), "--bundle",
                       str(bundle), "--timeout", "2")
    assert rc == 3, err  # pending: waiting for the centre's receipt
    assert "wrote 25 records" in out and "Nothing was wiped" in out
    # The upload attempts left their batch in the journal; identity and records as before.
    assert identity_and_records(config) == before and bundle.exists()

    # At the centre: import the bundle, write the receipt.
    receipt = tmp_path / "usb" / "t-1.receipt.json"
    rc, out, err = cli(capsys, "sim", "import-bundle", str(bundle), "--ca", str(pki.ca.dir),
                       "--db", str(db), "--receipt-out", str(receipt))
    assert rc == 0, err
    assert "imported the records of t-1" in out and receipt.exists()
    # Back at the terminal: the receipt covers every record, so the wipe goes ahead.
    rc, out, err = cli(capsys, "provision", "retire", "--config", str(config), "--receipt",
                       str(receipt))
    assert rc == 0, err
    assert "receipt verified" in out and wiped(config)
    centre.start()
    assert sorted(centre.store.record_ids("t-1")) == sorted(ids)


def test_a_receipt_that_does_not_cover_every_record_refuses_the_wipe(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    cfg = reload(config)
    make_journal(cfg, 10)
    bundle = tmp_path / "t-1.sgbundle"
    rc, _, err = cli(capsys, "provision", "retire", "--config", str(config), "--offline",
                     "--bundle", str(bundle))
    assert rc == 3, err
    receipt = tmp_path / "r.json"
    rc, _, err = cli(capsys, "sim", "import-bundle", str(bundle), "--ca", str(pki.ca.dir),
                     "--db", str(centre.db_path), "--receipt-out", str(receipt))
    assert rc == 0, err
    make_journal(cfg, 3)  # someone started the daemon again: three more decisions
    before = snapshot(config.parent)
    rc, out, err = cli(capsys, "provision", "retire", "--config", str(config), "--receipt",
                       str(receipt))
    assert rc == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert "covers 10 records up to seq 10" in err and "13 up to seq 13" in err
    assert "nothing was wiped" in err
    assert snapshot(config.parent) == before
    # A forged receipt (edited to cover 13) does not verify either.
    doc = json.loads(receipt.read_text())
    doc["claim"]["count"] = doc["claim"]["last_seq"] = 13
    receipt.write_text(json.dumps(doc))
    rc, _, err = cli(capsys, "provision", "retire", "--config", str(config), "--receipt",
                     str(receipt))
    assert rc == 2 and "do not verify" in err and snapshot(config.parent) == before


def test_a_tampered_bundle_is_refused_at_the_centre(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    import gzip

    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    make_journal(reload(config), 4)
    bundle = tmp_path / "t-1.sgbundle"
    cli(capsys, "provision", "retire", "--config", str(config), "--offline", "--bundle",
        str(bundle))
    doc = json.loads(gzip.decompress(bundle.read_bytes()))
    doc["records"][0]["decision"] = "accept" if doc["records"][0]["decision"] == "deny" \
        else "deny"
    bundle.write_bytes(gzip.compress(json.dumps(doc).encode()))
    rc, _, err = cli(capsys, "sim", "import-bundle", str(bundle), "--ca", str(pki.ca.dir),
                     "--db", str(centre.db_path))
    assert rc == 2 and "altered or truncated" in err
    assert centre.store.record_count("t-1") == 0


def test_replace_moves_the_gate_and_the_old_terminal_retires_without_loss(
        tmp_path: Path, pki: Pki, centre: CentralServer,
        capsys: pytest.CaptureFixture[str]) -> None:
    old = terminal_config(tmp_path, "t-old")
    enrol_now(old, centre, pki, "gate-1")
    old_cfg = reload(old)
    ids = make_journal(old_cfg, 12)
    run(upload_all(old_cfg))
    late = make_journal(old_cfg, 5)  # decided after the last upload

    new = terminal_config(tmp_path, "t-new")
    minted = centre.provisioning.mint_token("gate-1")
    # A plain enrolment does not take a gate another terminal holds ...
    rc, _, err = cli(capsys, *enrol_args(new, centre, minted.token, "gate-1",
                                         pki.ca.fingerprint))
    assert rc == 2 and "gate_taken" in err and "t-old" in err and "replace" in err
    # ... replace does, and revokes the old terminal.
    argv = enrol_args(new, centre, minted.token, "gate-1", pki.ca.fingerprint)
    argv[1] = "replace"
    rc, out, err = cli(capsys, *argv)
    assert rc == 0, err
    assert "t-new took over gate gate-1" in out
    assert centre.provisioning.gate_holder("gate-1") == "t-new"
    assert {c["status"] for c in centre.provisioning.certificates("t-old")} == {"revoked"}
    assert centre.provisioning.certificates("t-old")[0]["revoke_reason"] == "replaced by t-new"
    status = run(upload_all(reload(new)))  # the new one uploads
    assert status["identity_refused"] is None

    # The old one cannot upload any more (403 revoked): retire falls back to the bundle.
    bundle = tmp_path / "t-old.sgbundle"
    rc, out, err = cli(capsys, "provision", "retire", "--config", str(old), "--bundle",
                       str(bundle))
    assert rc == 3 and "revoked" in out
    receipt = tmp_path / "t-old.receipt.json"
    rc, _, err = cli(capsys, "sim", "import-bundle", str(bundle), "--ca", str(pki.ca.dir),
                     "--db", str(centre.db_path), "--receipt-out", str(receipt))
    assert rc == 0, err
    rc, _, err = cli(capsys, "provision", "retire", "--config", str(old), "--receipt",
                     str(receipt))
    assert rc == 0, err
    assert wiped(old)
    assert sorted(centre.store.record_ids("t-old")) == sorted(ids + late)  # nothing lost
