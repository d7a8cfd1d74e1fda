"""The exception tree of the provisioning tools.

    ProvisioningError        base of everything ``provisioning`` raises on purpose
"""


class ProvisioningError(Exception):
    """Base class of every error the provisioning tools raise on purpose."""
