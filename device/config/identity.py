"""The ``[identity]`` section, and the uplink as the enrolled identity completes it.

An enrolled terminal needs no TLS paths in its configuration: ``[uplink]`` keys left out
(``base_url``, ``ca_file``, ``client_cert``, ``client_key``) are taken from the enrolled
identity (``device.identity``), and ``[trust] root_key`` defaults to the trust root the
centre handed out. ``effective_uplink`` is what ``load_config`` puts in ``cfg.uplink``,
and what the daemon asks again after it has enrolled itself from a scanned voucher.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from device.config.tables import Table, wrap
from device.errors import ConfigError, IdentityError
from device.identity import IdentityConfig, IdentityStore
from device.identity.config import VOUCHER_MODES

#: [uplink] keys the enrolled identity fills in when they are left out.
FROM_IDENTITY = ("base_url", "ca_file", "client_cert", "client_key")


def parse_identity(t: Table, state_dir: Path) -> IdentityConfig:
    kw: dict[str, Any] = {"dir": t.path("dir", str(state_dir / "identity"))}
    if t.has("renew_fraction"):
        kw["renew_fraction"] = t.num("renew_fraction", lo=0.05, hi=0.9)
    if t.has("vouchers"):
        kw["vouchers"] = t.str_("vouchers", choices=VOUCHER_MODES)
    if t.has("ca_fingerprint"):
        kw["ca_fingerprint"] = t.str_("ca_fingerprint")
    t.done()
    return wrap("identity", lambda: IdentityConfig(**kw))


def effective_uplink(terminal_id: str, options: Mapping[str, Any] | None,
                     identity: IdentityConfig) -> Any:
    """The UplinkConfig in force: ``[uplink]`` completed by the enrolled identity; None
    when there is neither a configured nor an enrolled centre (offline only)."""
    from device.uplink.config import UplinkConfig

    try:
        enrolment = IdentityStore(identity.dir).load()
    except IdentityError as exc:
        raise ConfigError(f"identity.dir = {str(identity.dir)!r}: {exc}") from exc
    if enrolment is None and (options is None or options.get("base_url") is None):
        return None  # not enrolled, no centre configured: offline until enrolled
    kw = dict(options or {})
    if enrolment is not None:
        if enrolment.terminal_id != terminal_id:
            raise ConfigError(
                f"identity.dir = {str(identity.dir)!r}: enrolled as terminal "
                f"{enrolment.terminal_id!r}, but terminal_id = {terminal_id!r}; fix "
                "terminal_id or re-enrol (scangate provision enroll)")
        configured = kw.get("base_url")
        if (configured is not None and configured.rstrip("/") != enrolment.central_url.rstrip("/")
                and not configured.lower().startswith("https://")):
            # A configured https URL may override the enrolled one (the centre moved; same
            # CA pin and certificate; config check warns). Plain http never pairs with it.
            raise ConfigError(
                f"uplink.base_url = {configured!r}: this terminal is enrolled for mutual TLS "
                f"with {enrolment.central_url} (identity in {identity.dir}); plain http would "
                "send its records in the clear: remove uplink.base_url to use the enrolled "
                "centre, or give the centre's https:// URL")
        filled = {"base_url": enrolment.central_url, "ca_file": enrolment.ca_path,
                  "client_cert": enrolment.cert_path, "client_key": enrolment.key_path}
        for key in FROM_IDENTITY:
            if kw.get(key) is None:
                kw[key] = filled[key]
    return wrap("uplink", lambda: UplinkConfig(terminal_id=terminal_id, **kw))
