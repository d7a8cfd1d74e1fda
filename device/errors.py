"""The exception tree of the terminal package.

    OperatorError                    an error raised on purpose, in any scangate package,
    │                                whose message tells the operator what to do; the CLI
    │                                prints it as one line (sim.errors.SimError and
    │                                provisioning.errors.ProvisioningError derive from it)
    └── ScangateError                base of everything ``device`` raises on purpose
        ├── ConfigError (ValueError) a configuration value is wrong; names key, value, allowed
        ├── TrustListError           a trust list is malformed, badly signed, stale or a rollback
        ├── KeyLoadError (ValueError) a key or certificate file cannot be read
        ├── BackendError             a named backend is unknown or cannot load here
        ├── SourceError              a scan source (camera, serial reader) failed
        ├── GateError                gate outputs could not be driven
        ├── JournalError             the scan journal cannot be written or read
        ├── UplinkError              the central engine could not be reached or refused
        ├── IdentityError            the terminal's key, certificate or identity files
        └── EnrolmentError           enrolment, renewal or retire refused (one line: what to do)

The verifier never raises for bad input: a malformed code is a DENY with a reason.
Errors that cross a boundary are translated here (``raise XError(msg) from exc``) and
carry what the user needs to act. ``device`` never imports ``sim`` or ``provisioning``:
they make their own bases subclasses of ``OperatorError``, so the one error boundary
(``device.cli.main``) prints theirs, and those of backends loaded by name, the same way.
"""

from __future__ import annotations


class OperatorError(Exception):
    """Raised on purpose with a message for the operator (one line, says what to do)."""


class ScangateError(OperatorError):
    """Base class of every error the terminal raises on purpose."""


class ConfigError(ScangateError, ValueError):
    """A configuration value is wrong. The message names the key, value and what is allowed."""


class TrustListError(ScangateError):
    """A trust list could not be installed or used."""


class KeyLoadError(ScangateError, ValueError):
    """A key or certificate file could not be read."""


class BackendError(ScangateError):
    """A backend named in the configuration is unknown or cannot load on this machine."""


class SourceError(ScangateError):
    """A scan source failed (camera unplugged, serial port gone, ...)."""


class GateError(ScangateError):
    """The gate outputs could not be driven."""


class JournalError(ScangateError):
    """The scan journal could not be written or read."""


class UplinkError(ScangateError):
    """The central engine could not be reached or refused a request."""


class IdentityError(ScangateError):
    """The terminal's key, certificate or identity directory cannot be used."""


class EnrolmentError(ScangateError):
    """An enrolment, renewal or retire step was refused; nothing on the terminal changed.

    ``code`` names the refusal (``token_used``, ``wrong_ca_fingerprint``, ...) for tests
    and the staff screen; the message is the one line the technician reads.
    """

    def __init__(self, message: str, code: str = "refused") -> None:
        super().__init__(message)
        self.code = code
