"""Coverage-guided fuzzing of the whole verifier with atheris (libFuzzer).

Run by hand, e.g.::

    .venv/bin/pip install atheris          # the [fuzz] extra
    .venv/bin/python tests/device/fuzz_verifier.py -runs=100000
    .venv/bin/python tests/device/fuzz_verifier.py -max_total_time=600 corpus_dir/

Each input is interpreted as one of: a raw scanned payload, a Base45 body after a
prefix, zlib-compressed COSE bytes, CWT claims correctly signed by a trusted key (so
the fuzzer reaches every stage after the signature), or the DGC of an EU DCC whose other
claims are valid, correctly signed (so it reaches the EU DCC schema check with any CBOR,
indefinite lengths included). A verdict carrying an internal error, or any exception, is
a crash.
"""

from __future__ import annotations

import sys
import zlib
from pathlib import Path

import atheris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

with atheris.instrument_imports():
    from cryptography.hazmat.primitives.asymmetric import ec

    from device.verify.codecs import base45, cbor, cose
    from device.verify.codeformat import PREFIX_DCC, PREFIX_SCANGATE, PROFILE_DCC, PROFILE_SCANGATE
    from device.verify.trustlist import SignerKey
    from device.verify.verdict import Verdict
    from device.verify.verifier import Verifier

NOW = 1_800_000_000.0
_KEY = ec.derive_private_key(0x5CA9_6A7E, ec.SECP256R1())
_SIGNER = SignerKey.from_public_key(_KEY.public_key(), profiles={PROFILE_SCANGATE, PROFILE_DCC})
VERIFIER = Verifier([_SIGNER])


#: A DCC's claims up to the DGC: {4: exp, 6: iat, -260: {1: <the fuzzed bytes>}}.
_DCC_CLAIMS_HEAD = (b"\xa3" + cbor.encode(4) + cbor.encode(int(NOW) + 3600) + cbor.encode(6)
                    + cbor.encode(int(NOW) - 3600) + cbor.encode(-260) + b"\xa1\x01")


def payload_for(data: bytes) -> str | bytes:
    if not data:
        return data
    mode, body = data[0] % 6, data[1:]
    if mode == 5:
        signed = cose.sign1(_DCC_CLAIMS_HEAD + body, _KEY, _SIGNER.kid)
        return PREFIX_DCC + base45.encode(zlib.compress(signed))
    prefix = PREFIX_SCANGATE if data[0] & 0x80 else PREFIX_DCC
    if mode == 0:
        return body
    if mode == 1:
        return prefix + body.decode("latin-1")
    if mode == 2:
        return prefix + base45.encode(body)
    if mode == 3:
        return prefix + base45.encode(zlib.compress(body))
    signed = cose.sign1(body, _KEY, _SIGNER.kid)
    return prefix + base45.encode(zlib.compress(signed))


def test_one_input(data: bytes) -> None:
    verdict = VERIFIER.verify(payload_for(data), at=NOW)
    if not isinstance(verdict, Verdict) or verdict.detail.startswith("internal error"):
        raise RuntimeError(f"verifier failed on input: {verdict!r}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
