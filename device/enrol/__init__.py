"""The terminal's exchanges with the centre about its identity: enrolment (from the CLI or
a voucher scanned by its own reader), renewal, and the voucher and screen-QR formats.

Used by the daemon (vouchers, renewal) and by ``provisioning`` (the technician's
commands). Nothing here is on the scan -> decision path: the daemon hands a voucher over
before deciding and runs the exchange as a separate task (docs/central-api.md).
"""

from device.enrol.enrol import EnrolRequest, EnrolResult, TrustTarget, enrol
from device.enrol.voucher import (
    VOUCHER_PREFIX,
    EnrolmentUri,
    Voucher,
    encode_voucher,
    is_voucher,
    parse_enrolment_uri,
    parse_voucher,
)

__all__ = [
    "VOUCHER_PREFIX",
    "EnrolRequest",
    "EnrolResult",
    "EnrolmentUri",
    "TrustTarget",
    "Voucher",
    "encode_voucher",
    "enrol",
    "is_voucher",
    "parse_enrolment_uri",
    "parse_voucher",
]
