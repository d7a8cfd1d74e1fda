"""The worked example in docs/code-format.md verifies with the documented key."""

from __future__ import annotations

import re
from pathlib import Path

from device.verify.codecs import cbor, cose
from device.verify.codeformat import unwrap
from device.verify.keys import kid_for_public_key, parse_public_key
from device.verify.trustlist import SignerKey
from device.verify.verdict import Reason
from device.verify.verifier import Verifier

DOC = Path(__file__).resolve().parents[2] / "docs" / "code-format.md"


def test_worked_example() -> None:
    text = DOC.read_text(encoding="utf-8")
    pem = re.search(r"-----BEGIN PUBLIC KEY-----.*?-----END PUBLIC KEY-----", text, re.S)
    payload = re.search(r"^SG1:[0-9A-Z $%*+\-./:]+$", text, re.M)
    assert pem and payload
    key, _ = parse_public_key(pem.group(0).encode())
    assert kid_for_public_key(key).hex() == "1d0f44677e2206e5"
    ver = Verifier([SignerKey.from_public_key(key, profiles={"scangate"})])
    v = ver.verify(payload.group(0), at=1795000020)
    assert (v.reason, v.status, v.issuer, v.iat, v.exp) == (
        Reason.OK, "green", "demo-health", 1795000000, 1795000300)
    assert v.code_id == "0123456789abcdef0123456789abcdef"
    assert ver.verify(payload.group(0), at=1795000300).reason is Reason.EXPIRED
    # the COSE hex in the document is what the payload carries
    cose_hex = re.search(r"COSE_Sign1 \(162 bytes\).*?```\n(.*?)```", text, re.S)
    assert cose_hex
    assert bytes.fromhex("".join(cose_hex.group(1).split())) == unwrap(payload.group(0))[1]
    msg = cose.parse_sign1(cbor.decode(unwrap(payload.group(0))[1]))
    assert msg.protected_bytes.hex() == "a2012604481d0f44677e2206e5"
