"""Which conversation a mail belongs to, from its headers alone (no storage needed).

A conversation's key is ``<customer address>#<thread token>``. A new mail starts a
thread whose token is derived from its Message-ID; every mail we send carries the token
in its own Message-ID (``<hd.<token>.<random>@<our domain>>``), so a customer's reply
names its thread in ``In-Reply-To``/``References`` whatever their client does to the
subject. A reply that names none of ours may carry a ticket reference in the subject
(``[HD-1042]``): the channel asks the directory for that ticket's conversation and joins
it when it belongs to the same address. The address is part of the key, so nobody joins
someone else's conversation by quoting a header or a reference.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable

__all__ = [
    "address_of",
    "conversation_key",
    "message_ids_in",
    "our_message_id",
    "thread_token",
    "ticket_reference",
    "token_in",
    "token_of",
]

_TOKEN_CHARS = 12
_OURS = re.compile(r"<hd\.([0-9a-f]{12})\.[0-9a-f]+@([^>\s]+)>", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")
_REFERENCE = re.compile(r"\[(HD-\d{3,9})\]", re.IGNORECASE)


def thread_token(message_id: str) -> str:
    """A new thread's token: a short hash of the Message-ID of the mail that opened it."""
    return hashlib.sha256(message_id.encode("utf-8", "replace")).hexdigest()[:_TOKEN_CHARS]


def conversation_key(address: str, token: str) -> str:
    return f"{address}#{token}"


def address_of(key: str) -> str | None:
    """The customer's address in a conversation key, or None when it is not an email key."""
    address, sep, token = key.rpartition("#")
    if not sep or "@" not in address or len(token) != _TOKEN_CHARS:
        return None
    return address


def token_of(key: str) -> str:
    return key.rpartition("#")[2]


def our_message_id(token: str, domain: str) -> str:
    """A Message-ID for a mail we send in the thread ``token``."""
    return f"<hd.{token}.{secrets.token_hex(8)}@{domain}>"


def message_ids_in(header: str | None) -> list[str]:
    """The ``<...>`` ids of an In-Reply-To or References header, in order."""
    return _MESSAGE_ID.findall(header or "")


def token_in(ids: Iterable[str], domain: str) -> str | None:
    """The thread token of the newest of our own Message-IDs among ``ids``."""
    found = None
    for value in ids:
        match = _OURS.fullmatch(value)
        if match and match.group(2).lower() == domain.lower():
            found = match.group(1).lower()
    return found


def ticket_reference(subject: str) -> str | None:
    """``[HD-1042]`` in a subject -> ``HD-1042``."""
    match = _REFERENCE.search(subject)
    return match.group(1).upper() if match else None
