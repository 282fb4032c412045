"""This worker's membership of a cluster: its locks, its bid for the lead, its relay.

``bot.app`` builds one :class:`ClusterNode` when ``cluster.enabled`` is on and hands its
parts out: the engine takes :attr:`ClusterNode.locks` for conversations, the task
supervisor :meth:`Leadership.is_leader` for once-per-cluster jobs, the desk's events
are relayed by :attr:`ClusterNode.relay`. :meth:`ClusterNode.close` hands the lead over at
once (a clean stop does not make the others wait for a check) and ends the session, and
with it every lock this worker held.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from bot.cluster.leader import Leadership
from bot.cluster.locks import ClusterLocks
from bot.cluster.relay import RedisRelay
from bot.events import DeskEvents
from bot.settings import ClusterSettings

OUTBOX_NOTICE = "outbox"
"""Notice topic: "a reply for (channel, conversation_key) waits: whoever holds that
customer's connection, send it" (a web chat socket lives on one worker)."""


def relay_prefix(redis_url: str) -> str:
    """The relay's channel names for a Redis URL: ``helpdesk:<database number>``.

    Redis pub/sub channels belong to the whole server, not to a database number: two
    deployments (or test runs) given ``redis://host/1`` and ``redis://host/2`` would
    otherwise hear each other's desk events, customers' messages included.
    """
    parts = urlsplit(redis_url)
    number = parts.path.strip("/") or parse_qs(parts.query).get("db", ["0"])[0]
    return f"helpdesk:{number}"


def worker_name(settings: ClusterSettings) -> str:
    return settings.worker_id or f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class ClusterNode:
    worker_id: str
    locks: ClusterLocks
    leadership: Leadership
    relay: RedisRelay

    @classmethod
    def join(
        cls, settings: ClusterSettings, *, database_url: str, redis_url: str, events: DeskEvents
    ) -> ClusterNode:
        worker_id = worker_name(settings)
        locks = ClusterLocks(database_url)
        return cls(
            worker_id=worker_id,
            locks=locks,
            leadership=Leadership(
                locks, worker_id=worker_id, check_every_s=settings.leader_check_s
            ),
            relay=RedisRelay(
                redis_url, worker_id=worker_id, events=events, prefix=relay_prefix(redis_url)
            ),
        )

    def ask_to_send(self, channel: str, conversation_key: str) -> None:
        """A reply could not go out here (the customer is connected to another worker)."""
        self.relay.notice(OUTBOX_NOTICE, {"channel": channel, "conversation_key": conversation_key})

    async def close(self) -> None:
        await self.leadership.step_down()
        await self.locks.close()
