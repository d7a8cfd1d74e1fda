"""The enrolled identity on disk, changed only atomically.

    <dir>/                   0700
      terminal.key           0600, the private key (made on the terminal, kept on renewal)
      current -> gen-000N    symlink, swapped with one rename
      gen-000N/              terminal.pem (certificate + CA), central-ca.pem,
                             trust-root.pem, identity.json

A generation directory is written completely (and fsynced) under a temporary name,
renamed into place, and only then does ``current`` point at it: a power cut at any
moment leaves either the old identity or the new one, never a mixture. The previous
generation is kept (one back); older ones are removed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from device.errors import IdentityError, KeyLoadError
from device.files import atomic_write, fsync_dir
from device.identity.certs import (
    CertInfo,
    cert_info,
    key_fingerprint,
    load_private_key,
    parse_pem_chain,
    pem,
    private_pem,
)
from device.identity.files import make_private_dir, owner_like, wipe_file

KEY_FILE = "terminal.key"
CURRENT = "current"
CERT_FILE = "terminal.pem"
CA_FILE = "central-ca.pem"
ROOT_FILE = "trust-root.pem"
META_FILE = "identity.json"
MAX_META_BYTES = 64 * 1024


@dataclass(frozen=True)
class Enrolment:
    """An enrolled identity: who, where, which centre, which certificate."""

    terminal_id: str
    gate_id: str
    central_url: str
    ca_fingerprint: str
    enrolled_at: float
    cert: CertInfo
    key_path: Path
    cert_path: Path  # <dir>/current/terminal.pem (through the symlink: renewals show)
    ca_path: Path
    root_path: Path

    def to_json(self) -> dict[str, Any]:
        return {"terminal_id": self.terminal_id, "gate_id": self.gate_id,
                "central_url": self.central_url, "ca_fingerprint": self.ca_fingerprint,
                "enrolled_at": self.enrolled_at, **{k: v for k, v in self.cert.to_json().items()
                                                   if k in ("serial", "not_before",
                                                            "not_after")}}


class IdentityStore:
    def __init__(self, directory: Path | str) -> None:
        self.dir = Path(directory)

    # -- paths (stable: the configuration's defaults point here) -------------------------
    @property
    def key_path(self) -> Path:
        return self.dir / KEY_FILE

    @property
    def current(self) -> Path:
        return self.dir / CURRENT

    @property
    def cert_path(self) -> Path:
        return self.current / CERT_FILE

    @property
    def ca_path(self) -> Path:
        return self.current / CA_FILE

    @property
    def root_path(self) -> Path:
        return self.current / ROOT_FILE

    # -- reading --------------------------------------------------------------------------
    def has_key(self) -> bool:
        return self.key_path.exists()

    def load_key(self) -> ec.EllipticCurvePrivateKey | None:
        if not self.key_path.exists():
            return None
        return load_private_key(self.key_path)

    def ensure_key(self) -> ec.EllipticCurvePrivateKey:
        """The terminal key, made now (on this terminal) if there is none yet."""
        key = self.load_key()
        if key is not None:
            return key
        from device.identity.certs import generate_key

        key = generate_key()
        self.write_key(key)
        return key

    def write_key(self, key: ec.EllipticCurvePrivateKey) -> None:
        self.dir.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        make_private_dir(self.dir)
        owner_like(self.dir, self.dir.parent)
        atomic_write(self.key_path, private_pem(key), mode=0o600)
        owner_like(self.key_path, self.dir.parent)

    def load(self) -> Enrolment | None:
        """The enrolled identity, None when not enrolled; IdentityError when broken."""
        try:
            raw = (self.current / META_FILE).read_bytes()[:MAX_META_BYTES]
        except FileNotFoundError:
            return None
        except NotADirectoryError:
            return None
        except OSError as exc:
            raise IdentityError(f"identity {self.current} cannot be read: {exc}") from exc
        try:
            meta = json.loads(raw)
            if not isinstance(meta, dict):
                raise ValueError("not an object")
            chain = parse_pem_chain(self.cert_path.read_bytes(), str(self.cert_path))
            info = cert_info(chain[0])
            return Enrolment(
                terminal_id=str(meta["terminal_id"]), gate_id=str(meta["gate_id"]),
                central_url=str(meta["central_url"]),
                ca_fingerprint=str(meta["ca_fingerprint"]),
                enrolled_at=float(meta["enrolled_at"]), cert=info, key_path=self.key_path,
                cert_path=self.cert_path, ca_path=self.ca_path, root_path=self.root_path)
        except (OSError, ValueError, KeyError, TypeError, KeyLoadError) as exc:
            raise IdentityError(f"identity in {self.current} is damaged ({exc}); re-enrol "
                                "the terminal (scangate provision enroll)") from exc

    # -- changing (atomic) ------------------------------------------------------------------
    def commit(self, *, key: ec.EllipticCurvePrivateKey, chain: list[x509.Certificate],
               ca: x509.Certificate, root_pem: bytes, terminal_id: str, gate_id: str,
               central_url: str, ca_fp: str, enrolled_at: float | None = None) -> Enrolment:
        """Install a new identity (enrolment or renewal) as one atomic step."""
        existing = self.load_key()
        if existing is not None and key_fingerprint(existing.public_key()) != key_fingerprint(
                key.public_key()):
            raise IdentityError(f"{self.key_path} holds another key than the one enrolled; "
                                "refusing to overwrite it")
        if existing is None:
            self.write_key(key)
        info = cert_info(chain[0])
        meta = {"terminal_id": terminal_id, "gate_id": gate_id, "central_url": central_url,
                "ca_fingerprint": ca_fp,
                "enrolled_at": enrolled_at if enrolled_at is not None else time.time(),
                "serial": info.serial, "not_before": info.not_before,
                "not_after": info.not_after}
        files = {
            CERT_FILE: b"".join(pem(c) for c in chain),
            CA_FILE: pem(ca),
            ROOT_FILE: root_pem,
            META_FILE: json.dumps(meta, indent=1, sort_keys=True).encode() + b"\n",
        }
        gen = self._next_generation()
        tmp = self.dir / f".{gen}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        make_private_dir(tmp)
        for name, data in files.items():
            atomic_write(tmp / name, data, mode=0o644)
            owner_like(tmp / name, self.dir.parent)
        os.chmod(tmp, 0o755)
        owner_like(tmp, self.dir.parent)
        fsync_dir(tmp)
        os.replace(tmp, self.dir / gen)
        link = self.dir / f".{CURRENT}.tmp"
        with contextlib.suppress(FileNotFoundError):
            link.unlink()
        os.symlink(gen, link)
        os.replace(link, self.current)
        fsync_dir(self.dir)
        self._prune(keep={gen})
        loaded = self.load()
        assert loaded is not None
        return loaded

    def _generations(self) -> list[str]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if n.startswith("gen-") and n[4:].isdigit())

    def _next_generation(self) -> str:
        gens = self._generations()
        n = int(gens[-1][4:]) + 1 if gens else 1
        return f"gen-{n:04d}"

    def _prune(self, keep: set[str]) -> None:
        gens = self._generations()
        for name in gens[:-2]:  # the current one and the one before stay
            if name not in keep:
                shutil.rmtree(self.dir / name, ignore_errors=True)

    def wipe(self) -> None:
        """Destroy the key (overwritten, then unlinked) and every identity file."""
        wipe_file(self.key_path)
        for name in self._generations():
            shutil.rmtree(self.dir / name, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.current.unlink()
        shutil.rmtree(self.dir, ignore_errors=True)
