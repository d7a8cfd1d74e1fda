"""UplinkConfig validation: clear ConfigError naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from device.errors import ConfigError
from device.uplink import UplinkConfig


def make(**kw: Any) -> UplinkConfig:
    values: dict[str, Any] = {"base_url": "https://central.example:8443", "terminal_id": "t-1",
                              "token": "abc", "ca_file": Path("/etc/scangate/ca.pem")}
    values.update(kw)
    return UplinkConfig(**values)


def test_defaults_match_the_contract() -> None:
    c = make()
    assert (c.batch_size, c.batch_interval_s, c.backoff_base_s, c.backoff_cap_s) == (
        500, 5.0, 1.0, 300.0)
    assert (c.heartbeat_interval_s, c.trust_poll_interval_s, c.timeout_s) == (60.0, 300.0, 10.0)
    assert c.is_tls


@pytest.mark.parametrize(
    ("kw", "key"),
    [
        ({"base_url": "ftp://x"}, "base_url"),
        ({"base_url": "central"}, "base_url"),
        ({"base_url": "http://127.0.0.1:1", "allow_insecure_http": False, "ca_file": None},
         "allow_insecure_http"),
        ({"base_url": "http://127.0.0.1:1", "ca_file": None}, "allow_insecure_http"),
        ({"base_url": "http://127.0.0.1:1", "allow_insecure_http": True}, "ca_file"),
        ({"base_url": "http://example.com:8300", "allow_insecure_http": True, "ca_file": None},
         "loopback"),
        ({"base_url": "http://10.0.0.1", "allow_insecure_http": True, "ca_file": None},
         "loopback"),
        ({"base_url": "https://central.example", "ca_file": None}, "ca_file"),
        ({"terminal_id": ""}, "terminal_id"),
        ({"terminal_id": "a b"}, "terminal_id"),
        ({"token": "has space"}, "token"),
        ({"batch_size": 0}, "batch_size"),
        ({"timeout_s": 0}, "timeout_s"),
        ({"backoff_base_s": float("nan")}, "backoff_base_s"),
        ({"backoff_cap_s": 0.5, "backoff_base_s": 1.0}, "backoff_cap_s"),
        ({"client_cert": Path("c.pem")}, "client_cert"),
    ],
)
def test_bad_values_name_the_key(kw: dict[str, Any], key: str) -> None:
    with pytest.raises(ConfigError, match=key):
        make(**kw)


@pytest.mark.parametrize("url", ["http://127.0.0.1:8300", "http://127.9.9.9", "http://[::1]:80",
                                 "http://localhost:8300"])
def test_plain_http_only_to_loopback_and_only_when_allowed(url: str) -> None:
    assert not make(base_url=url, ca_file=None, allow_insecure_http=True).is_tls
    with pytest.raises(ConfigError, match="allow_insecure_http"):
        make(base_url=url, ca_file=None)  # the default is secure


def test_secure_default_is_off() -> None:
    assert UplinkConfig.__dataclass_fields__["allow_insecure_http"].default is False
