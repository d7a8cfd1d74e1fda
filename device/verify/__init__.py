"""The verify stage: a scanned payload in, a ``Verdict`` out, offline, never raising.

    from device.verify import TrustStore, Verifier, load_root_key
    verifier = Verifier(TrustStore(path, load_root_key("root.pub.pem")).load())
    verdict = verifier.verify(payload, at=trusted_now)   # facts; the site decides after

Modules, in the order a payload meets them: ``codeformat`` (prefix → Base45 → bounded
zlib) over ``codecs/`` (``base45``, ``cbor``, ``cose``), ``claims`` (CWT claims of each
profile), ``keys`` and ``trustlist`` (signer keys, the signed list and its store),
``verifier`` (the chain) and ``verdict`` (what it says). This package knows nothing of
the daemon, the journal, the uplink, the gate, the screen or the scan sources
(tests/test_layout.py holds it to that). docs/verifier-api.md is its contract.
"""

from device.verify.trustlist import SignerKey, TrustList, TrustStore, load_root_key
from device.verify.verdict import REASON_TEXT, WARNING_STALE, Decision, Reason, Verdict
from device.verify.verifier import Verifier, VerifyPolicy

__all__ = [
    "REASON_TEXT",
    "WARNING_STALE",
    "Decision",
    "Reason",
    "SignerKey",
    "TrustList",
    "TrustStore",
    "Verdict",
    "Verifier",
    "VerifyPolicy",
    "load_root_key",
]
