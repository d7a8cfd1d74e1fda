"""Retire a terminal without losing a record (docs/central-api.md, "Retire").

    result = retire(cfg)                         # upload, claim, receipt, wipe
    result = retire(cfg)                         # centre unreachable: bundle written
    result = retire(cfg, receipt=Path("r.json")) # receipt from the bundle import: wipe

The terminal signs a claim over every record its journal holds (last seq, count, digest);
the centre countersigns once it holds them all. The key, the identity and the journal are
wiped only with a receipt that verifies under the pinned CA and covers exactly what the
journal holds now; anything else refuses the wipe and changes nothing. The daemon must be
stopped (it would go on writing the journal).
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from device.errors import EnrolmentError, IdentityError, JournalError
from device.files import atomic_write
from device.identity.files import wipe_file
from device.identity.store import Enrolment, IdentityStore
from device.journal.export import JournalSummary, canonical, held_records, summarise
from provisioning.errors import ProvisioningError

BUNDLE_FORMAT = "scangate-retire-bundle/1"
RECEIPT_FILE = "retire-receipt.json"
COVERAGE = ("terminal_id", "first_seq", "last_seq", "count", "digest")
#: Give up on the centre after this many failed upload attempts in a row.
MAX_FAILURES = 3


class CentreUnavailable(ProvisioningError):
    """The centre cannot take the records now (unreachable, or refuses this terminal)."""


@dataclass
class RetireResult:
    wiped: bool
    terminal_id: str
    last_seq: int
    count: int
    uploaded: int = 0
    bundle: Path | None = None
    receipt_file: Path | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"wiped": self.wiped, "terminal_id": self.terminal_id,
                "last_seq": self.last_seq, "count": self.count, "uploaded": self.uploaded,
                "bundle": str(self.bundle) if self.bundle else None,
                "receipt_file": str(self.receipt_file) if self.receipt_file else None,
                "reason": self.reason}


def make_claim(enrolment: Enrolment, summary: JournalSummary) -> dict[str, Any]:
    d = summary.digest
    return {"terminal_id": enrolment.terminal_id, "gate_id": enrolment.gate_id,
            "first_seq": d.first_seq, "last_seq": summary.last_seq, "count": d.count,
            "digest": d.digest, "made_at": time.time()}


def sign_claim(key: ec.EllipticCurvePrivateKey, claim: dict[str, Any]) -> str:
    return base64.b64encode(key.sign(canonical(claim), ec.ECDSA(hashes.SHA256()))).decode()


def verify_receipt(receipt: Any, claim: dict[str, Any], enrolment: Enrolment,
                   key: ec.EllipticCurvePrivateKey) -> None:
    """ProvisioningError unless ``receipt`` is the centre's countersignature of a claim of
    this terminal that covers exactly the records ``claim`` describes."""
    if not isinstance(receipt, dict) or not isinstance(receipt.get("claim"), dict):
        raise ProvisioningError("the receipt file is not a scangate retire receipt; nothing "
                                "was wiped")
    body = {k: v for k, v in receipt.items() if k != "centre_signature"}
    ca = x509.load_pem_x509_certificate(enrolment.ca_path.read_bytes())
    ca_key = ca.public_key()
    try:
        sig = base64.b64decode(str(receipt.get("centre_signature", "")), validate=True)
        assert isinstance(ca_key, ec.EllipticCurvePublicKey)
        ca_key.verify(sig, canonical(body), ec.ECDSA(hashes.SHA256()))
        tsig = base64.b64decode(str(receipt.get("terminal_signature", "")), validate=True)
        key.public_key().verify(tsig, canonical(receipt["claim"]), ec.ECDSA(hashes.SHA256()))
    except (ValueError, InvalidSignature, AssertionError):
        raise ProvisioningError("the receipt's signatures do not verify (not countersigned by "
                                "this terminal's centre, or not this terminal's claim); "
                                "nothing was wiped") from None
    got = receipt["claim"]
    if any(got.get(k) != claim.get(k) for k in COVERAGE):
        raise ProvisioningError(
            f"the receipt covers {got.get('count')} records up to seq {got.get('last_seq')}, "
            f"but the journal now holds {claim['count']} up to seq {claim['last_seq']} "
            "(or different ones): hand the rest in (run retire again) before wiping; "
            "nothing was wiped")


async def _upload_backlog(cfg: Any, say: Callable[[str], None]) -> int:
    """Upload every pending record over the normal uplink; CentreUnavailable if it can't."""
    from device.journal import Journal
    from device.uplink import Uplink

    if cfg.uplink is None:
        raise CentreUnavailable("no centre configured")

    async def nap(seconds: float) -> None:
        await asyncio.sleep(min(seconds, 0.5))

    j = Journal(cfg.journal.path, terminal_id=cfg.terminal_id,
                quota_bytes=cfg.journal.quota_bytes, min_free_bytes=0)
    up = Uplink(cfg.uplink, journal=j, sleep=nap)
    try:
        pending = j.stats().pending
        if pending:
            say(f"uploading {pending} records …")
        while j.stats().pending > 0:
            await nap(await up.uploader.step())
            st = up.state
            if st.identity_refused is not None:
                raise CentreUnavailable(f"the centre refuses this terminal "
                                        f"({st.identity_refused})")
            if st.consecutive_failures >= MAX_FAILURES:
                raise CentreUnavailable(st.last_error or "the centre does not answer")
        return int(up.state.records_acked)
    finally:
        await up.aclose()
        j.close()


async def _ask_receipt(enrolment: Enrolment, claim: dict[str, Any], signature: str,
                       timeout_s: float) -> dict[str, Any]:
    from device.enrol.est import EstClient, pinned_context

    ctx = pinned_context(enrolment.ca_path.read_bytes(), enrolment.cert_path,
                         enrolment.key_path)
    async with EstClient(enrolment.central_url, ctx, timeout_s=timeout_s,
                         terminal_id=enrolment.terminal_id) as est:
        return await est.retire_receipt(claim, signature)


def write_bundle(path: Path, claim: dict[str, Any], signature: str, enrolment: Enrolment,
                 journal: Path) -> int:
    chain = x509.load_pem_x509_certificates(enrolment.cert_path.read_bytes())
    from cryptography.hazmat.primitives import serialization

    records = list(held_records(journal))
    doc = {"format": BUNDLE_FORMAT, "claim": claim, "signature": signature,
           "certificate_chain": [c.public_bytes(serialization.Encoding.PEM).decode()
                                 for c in chain],
           "records": records}
    data = gzip.compress(json.dumps(doc, sort_keys=True).encode(), mtime=0)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data, mode=0o600)  # records are pseudonymous, still not for everyone
    return len(records)


def wipe(cfg: Any, store: IdentityStore, receipt: dict[str, Any]) -> Path:
    """Keep the receipt, then destroy the key, the identity and the journal."""
    keep = Path(cfg.state_dir) / RECEIPT_FILE
    keep.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(keep, json.dumps(receipt, indent=1, sort_keys=True).encode() + b"\n", 0o644)
    store.wipe()
    for suffix in ("", "-wal", "-shm", "-journal"):
        wipe_file(Path(str(cfg.journal.path) + suffix))
    return keep


def retire(cfg: Any, *, bundle: Path | None = None, receipt: Path | None = None,
           offline: bool = False, timeout_s: float = 10.0,
           say: Callable[[str], None] = print) -> RetireResult:
    store = IdentityStore(cfg.identity.dir)
    try:
        enrolment = store.load()
        key = store.load_key()
    except IdentityError as exc:
        raise ProvisioningError(str(exc)) from exc
    if enrolment is None or key is None:
        raise ProvisioningError(f"{cfg.terminal_id} is not enrolled: there is no identity to "
                                "sign a retire claim (nothing was wiped)")
    journal = Path(cfg.journal.path)
    if not journal.exists():
        raise ProvisioningError(f"no journal at {journal}: check the configuration (nothing "
                                "was wiped)")

    def claim_now() -> tuple[dict[str, Any], str]:
        try:
            summary = summarise(journal, cfg.terminal_id)
        except JournalError as exc:
            raise ProvisioningError(f"{exc}; nothing was wiped") from exc
        claim = make_claim(enrolment, summary)
        return claim, sign_claim(key, claim)

    if receipt is not None:
        try:
            doc = json.loads(receipt.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ProvisioningError(f"cannot read the receipt {receipt}: {exc}") from exc
        claim, _ = claim_now()
        verify_receipt(doc, claim, enrolment, key)
        kept = wipe(cfg, store, doc)
        say(f"receipt verified: the centre holds all {claim['count']} records up to seq "
            f"{claim['last_seq']}; key, identity and journal wiped (receipt kept in {kept})")
        return RetireResult(True, cfg.terminal_id, claim["last_seq"], claim["count"],
                            receipt_file=kept)

    uploaded = 0
    reason = "--offline"
    if not offline:
        try:
            uploaded = asyncio.run(_upload_backlog(cfg, say))
            claim, signature = claim_now()
            doc = asyncio.run(_ask_receipt(enrolment, claim, signature, timeout_s))
            verify_receipt(doc, claim, enrolment, key)
            kept = wipe(cfg, store, doc)
            say(f"retired: the centre countersigned all {claim['count']} records up to seq "
                f"{claim['last_seq']}; key, identity and journal wiped (receipt kept in "
                f"{kept})")
            return RetireResult(True, cfg.terminal_id, claim["last_seq"], claim["count"],
                                uploaded=uploaded, receipt_file=kept)
        except (CentreUnavailable, EnrolmentError) as exc:
            reason = str(exc)
    claim, signature = claim_now()
    out = bundle or Path.cwd() / f"retire-{cfg.terminal_id}.sgbundle"
    n = write_bundle(out, claim, signature, enrolment, journal)
    say(f"the centre cannot take the records now ({reason}); wrote {n} records up to seq "
        f"{claim['last_seq']} to {out}. Import it at the centre (scangate sim import-bundle "
        f"{out.name} ...), bring back the receipt and run: scangate provision retire "
        f"--config {cfg.source_file or 'FILE'} --receipt RECEIPT. Nothing was wiped.")
    return RetireResult(False, cfg.terminal_id, claim["last_seq"], claim["count"],
                        uploaded=uploaded, bundle=out, reason=reason)
