"""The ``[identity]`` section: where the enrolled identity lives and how it is kept."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from device.errors import ConfigError
from device.identity.certs import normalise_fingerprint

VOUCHER_MODES = ("unenrolled", "never")


@dataclass(frozen=True, kw_only=True)
class IdentityConfig:
    dir: Path
    renew_fraction: float = 0.33
    vouchers: str = "unenrolled"
    ca_fingerprint: str | None = None

    def __post_init__(self) -> None:
        if (not isinstance(self.renew_fraction, int | float)
                or not math.isfinite(self.renew_fraction)
                or not 0.05 <= self.renew_fraction <= 0.9):
            raise ConfigError(f"identity.renew_fraction = {self.renew_fraction!r}: a share "
                              "of the certificate lifetime between 0.05 and 0.9")
        if self.vouchers not in VOUCHER_MODES:
            raise ConfigError(f"identity.vouchers = {self.vouchers!r}: allowed: "
                              f"{', '.join(VOUCHER_MODES)}")
        if self.ca_fingerprint is not None:
            try:
                object.__setattr__(self, "ca_fingerprint",
                                   normalise_fingerprint(self.ca_fingerprint))
            except ValueError as exc:
                raise ConfigError(f"identity.ca_fingerprint: {exc}") from exc
