"""The sites that embed the web chat with the ``widget.js`` snippet, each under its key.

A shop's page carries ``<script src="https://BOT/widget.js" data-site-key="KEY">``; the
script opens the chat in a frame at ``/embed?site=KEY``. The key is public (it is in
the page's source): what keeps other sites out is the list of origins behind it, which
both the frame (CSP ``frame-ancestors``) and the chat socket (``Origin``) enforce.
The secret, from the environment only, signs the customer's identity
(:mod:`bot.channels.webchat_identity`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

SITE_KEY = re.compile(r"^[A-Za-z0-9_-]{4,64}$")
"""What ``channels.webchat.sites[].key`` allows; origins are checked there too."""


@dataclass(frozen=True, slots=True)
class Site:
    """One embedding site: its public key, the origins its pages are served from, and
    the secret that signs its customers' identities (None: identities are not verified)."""

    key: str
    origins: tuple[str, ...]
    secret: bytes | None = field(default=None, repr=False)

    def allows(self, origin: str | None, *, host: str | None) -> bool:
        """A browser's ``Origin`` for this site's chat: one of the site's pages, or the
        bot's own (the frame the snippet opens runs on the bot's origin)."""
        if origin is None:
            return True  # not a browser: it could send any Origin anyway
        origin = origin.rstrip("/").lower()
        if origin in self.origins:
            return True
        return host is not None and urlsplit(origin).netloc == host.lower()

    def frame_ancestors(self) -> str:
        """The CSP ``frame-ancestors`` sources for this site's frame."""
        return " ".join(self.origins) or "'none'"


def site_map(sites: Iterable[Site]) -> Mapping[str, Site]:
    """Sites by key; a key given twice is a configuration error."""
    by_key: dict[str, Site] = {}
    for site in sites:
        if site.key in by_key:
            raise ValueError(f"site key {site.key!r} is configured twice")
        by_key[site.key] = site
    return by_key
