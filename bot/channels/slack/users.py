"""Who is writing: ``users.info`` for a display name and locale, cached.

The lookup sits between receiving an event and acknowledging it, so it is bounded
by a short timeout: a slow or failing Slack costs the message its name and
language hint, never the message.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.channels.slack.events import SlackProfile, profile_from

log = logging.getLogger(__name__)


class SlackDirectory:
    """``users.info`` lookups, cached per user for ``ttl_s`` (LRU, at most ``max_users``).

    A failed lookup is remembered for ``retry_after_s`` so a broken lookup (a missing
    ``users:read`` scope, a deleted user) costs one call per minute, not one per message.
    """

    def __init__(
        self,
        client: AsyncWebClient,
        *,
        ttl_s: float = 3600.0,
        retry_after_s: float = 60.0,
        timeout_s: float = 1.0,
        max_users: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._ttl_s = ttl_s
        self._retry_after_s = retry_after_s
        self._timeout_s = timeout_s
        self._max_users = max_users
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, SlackProfile | None]] = OrderedDict()
        self.lookups = 0

    async def profile(self, user_id: str) -> SlackProfile | None:
        """The person's name and locale, or None when Slack cannot say (quickly)."""
        cached = self._cache.get(user_id)
        if cached is not None and cached[0] > self._clock():
            self._cache.move_to_end(user_id)
            return cached[1]
        profile = await self._fetch(user_id)
        ttl = self._ttl_s if profile is not None else self._retry_after_s
        self._cache[user_id] = (self._clock() + ttl, profile)
        self._cache.move_to_end(user_id)
        while len(self._cache) > self._max_users:
            self._cache.popitem(last=False)
        return profile

    async def _fetch(self, user_id: str) -> SlackProfile | None:
        self.lookups += 1
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.users_info(user=user_id, include_locale=True)
        except TimeoutError:
            log.warning(
                "users.info for %s took over %.1f s; going on without", user_id, self._timeout_s
            )
            return None
        except SlackApiError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc.response.get("error"))
            return None
        except aiohttp.ClientError as exc:
            log.warning("users.info for %s failed: %s", user_id, exc)
            return None
        user = response.get("user")
        return profile_from(user) if isinstance(user, dict) else None
