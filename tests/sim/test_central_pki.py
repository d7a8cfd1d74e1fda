"""The stand-in centre's provisioning half: routes match the OpenAPI document, tokens are
stored hashed, the terminal is the certificate's (a header cannot claim another), and
bearer tokens still work as the migration path."""

from __future__ import annotations

import gzip
import json
import re
import ssl
from pathlib import Path

import httpx

from sim.central import CentralServer
from sim.central.server import ROUTES
from tests.provisioning.pki_kit import Pki, centre, enrol_now, pki, reload, terminal_config

__all__ = ["centre", "pki"]  # fixtures used below

ROOT = Path(__file__).resolve().parents[2]


def test_every_route_is_in_the_openapi_document() -> None:
    doc = (ROOT / "docs" / "openapi.yaml").read_text()
    paths = set(re.findall(r"^  (/[^:\s]+):\s*$", doc, re.M))
    assert paths == {path for _, path in ROUTES}


def test_tokens_are_stored_only_as_hashes(centre: CentralServer) -> None:
    minted = centre.provisioning.mint_token("gate-1")
    for suffix in ("", "-wal"):
        f = Path(str(centre.db_path) + suffix)
        if f.exists():
            assert minted.token.encode() not in f.read_bytes()


def _batch(ids: list[str], terminal: str) -> bytes:
    return gzip.compress(json.dumps({"terminal_id": terminal, "records": [
        {"record_id": i, "terminal_id": terminal, "seq": n + 1} for n, i in
        enumerate(ids)]}).encode())


def test_the_certificate_names_the_terminal_not_a_header(tmp_path: Path, pki: Pki,
                                                         centre: CentralServer) -> None:
    config = terminal_config(tmp_path)
    enrol_now(config, centre, pki, "gate-1")
    up = reload(config).uplink
    ctx = ssl.create_default_context(cafile=str(up.ca_file))
    ctx.load_cert_chain(str(up.client_cert), str(up.client_key))
    with httpx.Client(base_url=centre.url, verify=ctx) as c:
        r = c.post("/v1/records", content=_batch(["a", "b"], "t-other"),
                   headers={"Idempotency-Key": "k1", "Content-Encoding": "gzip",
                            "X-Scangate-Terminal": "t-other"})
        assert r.status_code == 200
    assert centre.store.record_count("t-1") == 2 and centre.store.record_count("t-other") == 0


def test_bearer_tokens_remain_a_migration_path(tmp_path: Path, pki: Pki) -> None:
    with CentralServer(tmp_path / "c.db", ca=pki.ca, tokens={"old-token": "t-legacy"}) as s:
        ctx = ssl.create_default_context(cafile=str(pki.ca.ca_path))
        with httpx.Client(base_url=s.url, verify=ctx) as c:
            headers = {"Idempotency-Key": "k1", "Content-Encoding": "gzip"}
            assert c.post("/v1/records", content=_batch(["x"], "t-legacy"),
                          headers=headers).status_code == 401
            r = c.post("/v1/records", content=_batch(["x"], "t-legacy"),
                       headers={**headers, "Authorization": "Bearer old-token"})
            assert r.status_code == 200
        assert s.store.record_count("t-legacy") == 1
