"""The terminal's own identity: its P-256 key (made here, never sent), its certificate
from the centre's CA, the pinned CA and trust root — on disk, changed atomically.

    store = IdentityStore(cfg.identity.dir)
    enrolment = store.load()           # None: not enrolled
    read_certificate_info(cfg.uplink.client_cert).days_left(now)

The exchanges with the centre (enrolment, renewal) are ``device.enrol``; this part does
no network I/O (docs/central-api.md, "Provisioning").
"""

from device.identity.certs import (
    CertInfo,
    build_csr,
    ca_fingerprint,
    cert_info,
    check_id,
    generate_key,
    key_fingerprint,
    normalise_fingerprint,
    read_certificate_info,
)
from device.identity.config import IdentityConfig
from device.identity.store import Enrolment, IdentityStore

__all__ = [
    "CertInfo",
    "Enrolment",
    "IdentityConfig",
    "IdentityStore",
    "build_csr",
    "ca_fingerprint",
    "cert_info",
    "check_id",
    "generate_key",
    "key_fingerprint",
    "normalise_fingerprint",
    "read_certificate_info",
]
