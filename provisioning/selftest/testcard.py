"""The self-test card: a QR code with a fixed payload, printed or shown on a phone.

The camera check decodes it (any QR code proves the camera and decoder work; the card
is named when it is the one seen). Write it with ``scangate selftest --test-card
card.png``. A running daemon that reads it denies it as ``unknown_format``.
"""

from __future__ import annotations

from pathlib import Path

from provisioning.errors import ProvisioningError

TEST_CARD_PAYLOAD = b"SCANGATE-SELFTEST-CARD/1"


def is_test_card(payload: bytes) -> bool:
    return payload.strip() == TEST_CARD_PAYLOAD


def write_test_card(path: Path | str, *, scale: int = 12) -> Path:
    """Write the test card as a PNG (about 400 px square at the default scale)."""
    import segno

    p = Path(path)
    if p.suffix.lower() != ".png":
        raise ProvisioningError(f"test card {p}: the file name must end in .png")
    try:
        segno.make_qr(TEST_CARD_PAYLOAD, error="m").save(str(p), scale=scale, border=4)
    except OSError as exc:
        raise ProvisioningError(f"cannot write the test card {p}: {exc}") from exc
    return p
