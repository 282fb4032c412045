"""Multi-channel customer-support bot and helpdesk."""

__version__ = "0.1.0"
