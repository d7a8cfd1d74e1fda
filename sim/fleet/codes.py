"""The codes people show, and the trust list that says which are genuine.

One ``CodeBook`` per fleet process: a root key, our issuer key (``scangate`` profile), an
EU DCC signer key (``eu-dcc`` profile) and a forger's key that claims the issuer's kid.
Codes are minted with the real ``sim.issuer.Issuer`` / COSE code and the real prefixes,
so the verifier runs its whole path (Base45, zlib, CBOR, COSE, ES256, claims) on them.

Minting costs about as much as verifying, so codes come from pools: for every kind and
every ``WINDOW_S`` of virtual time there is a pool of codes valid through that window;
a gate's n-th code of a kind is pool entry ``(gate offset + n) mod size``. Two people
at one gate therefore never share a code within a window (pools are sized for the
busiest gate), and only a ``replayed`` arrival shows a code again.

The DCC documents are fictitious (no names, "SIM" identifiers) and follow the EU
schema's shape (``v``/``t``/``r`` entries with a ``ci``).
"""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from device.verify import keys
from device.verify.claims import CLAIM_EXP, CLAIM_HCERT, CLAIM_IAT, CLAIM_ISS
from device.verify.codecs import cbor, cose
from device.verify.codeformat import PROFILE_DCC, wrap
from device.verify.trustlist import SignerKey, TrustList, sign_trust_list
from sim.issuer import Issuer

WINDOW_S = 120.0  # virtual seconds covered by one pool
VALID_S = 300.0  # a code stays valid this long after its window ends
EXPIRED_AGO_S = 600.0  # an expired code expired this long before its window
TRUST_VALID_S = 30 * 86_400.0


class CodeBook:
    """Keys, trust lists and pooled codes for one simulated city (one process)."""

    def __init__(self, *, epoch: float, pool_size: int, seed: int) -> None:
        self.epoch = epoch
        self.pool_size = max(1, pool_size)
        self.seed = seed
        self.root = ec.generate_private_key(ec.SECP256R1())
        self.issuer = Issuer(ec.generate_private_key(ec.SECP256R1()), iss="sim-city")
        self.forger = Issuer(ec.generate_private_key(ec.SECP256R1()), kid=self.issuer.kid,
                             iss="sim-city")
        self.dcc_key = ec.generate_private_key(ec.SECP256R1())
        self.dcc_kid = keys.kid_for_public_key(self.dcc_key.public_key())
        self.signers = (
            SignerKey.from_public_key(self.issuer.private_key.public_key(),
                                      profiles={"scangate"}, label="sim-city issuer"),
            SignerKey.from_public_key(self.dcc_key.public_key(), profiles={"eu-dcc"},
                                      label="sim EU DSC"),
        )
        self._pools: dict[tuple[str, int], list[str]] = {}
        self._lists: dict[int, bytes] = {}

    @property
    def root_public(self) -> Any:
        return self.root.public_key()

    def trust_list(self, version: int) -> bytes:
        """The signed trust list of ``version`` (issued at the epoch + version seconds)."""
        data = self._lists.get(version)
        if data is None:
            issued = self.epoch + version
            data = sign_trust_list(self.root, version, issued, issued + TRUST_VALID_S,
                                   self.signers)
            self._lists[version] = data
        return data

    def parsed(self, version: int) -> TrustList:
        return TrustList.from_bytes(self.trust_list(version), self.root_public)

    def payload(self, kind: str, t: float, n: int, gate: int) -> str:
        """The ``n``-th code of ``kind`` at gate ``gate`` in the window of virtual ``t``."""
        window = int(t // WINDOW_S)
        pool = self._pools.get((kind, window))
        if pool is None:
            pool = self._mint(kind, window)
            self._pools[(kind, window)] = pool
        return pool[(gate * 7919 + n) % len(pool)]

    def _mint(self, kind: str, window: int) -> list[str]:
        start = self.epoch + window * WINDOW_S
        valid = WINDOW_S + VALID_S
        out = []
        for i in range(self.pool_size):
            code_id = f"{self.seed % 2**32:08x}{window:06x}{i:06x}{_KIND_IDS[kind]:02x}"[-32:]
            if kind in ("green", "yellow", "red"):
                out.append(self.issuer.mint(kind, valid_s=valid, now=start, code_id=code_id,
                                            subject_ref=code_id))
            elif kind == "expired":
                out.append(self.issuer.mint("green", valid_s=60, now=start - EXPIRED_AGO_S,
                                            code_id=code_id, subject_ref=code_id))
            elif kind == "forged":
                out.append(self.forger.mint("green", valid_s=valid, now=start,
                                            code_id=code_id, subject_ref=code_id))
            elif kind == "eu_dcc":
                out.append(self._dcc(start, valid, f"URN:UVCI:01:XX:SIM{code_id}"))
            else:
                raise ValueError(f"no codes of kind {kind!r}")
        return out

    def _dcc(self, iat: float, valid_s: float, ci: str) -> str:
        dgc = {
            "ver": "1.3.0",
            "nam": {"fnt": "SIM", "gnt": "PERSON"},
            "dob": "1990-01-01",
            "v": [{"tg": "840539006", "vp": "1119349007", "mp": "EU/1/20/1528",
                   "ma": "ORG-100030215", "dn": 2, "sd": 2, "dt": "2021-06-01",
                   "co": "XX", "is": "Simulated issuer", "ci": ci}],
        }
        claims = {CLAIM_ISS: "XX", CLAIM_IAT: int(iat), CLAIM_EXP: int(iat + valid_s),
                  CLAIM_HCERT: {1: dgc}}
        return wrap(PROFILE_DCC, cose.sign1(cbor.encode(claims), self.dcc_key, self.dcc_kid))


_KIND_IDS = {"green": 1, "yellow": 2, "red": 3, "expired": 4, "forged": 5, "eu_dcc": 6}
