"""Fixtures of the provisioning tests: ``pki`` (a CA made at test time, per module) and
``centre`` (the stand-in over real TLS on 127.0.0.1 with that CA). See pki_kit.py."""

from tests.provisioning.pki_kit import centre, pki

__all__ = ["centre", "pki"]
