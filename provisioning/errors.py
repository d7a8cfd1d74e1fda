"""The exception tree of the provisioning tools.

    device.errors.OperatorError
    └── ProvisioningError    base of everything ``provisioning`` raises on purpose

It derives from ``OperatorError`` so the ``scangate`` CLI prints it as one line.
"""

from device.errors import OperatorError


class ProvisioningError(OperatorError):
    """Base class of every error the provisioning tools raise on purpose."""
