"""Tickets: rules, the service that owns their transactions, SLAs and alerts."""
