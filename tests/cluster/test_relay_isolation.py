"""Two deployments on one Redis server, each with its own database number, do not hear
each other's desk events: pub/sub channels are server-wide, so the workers' relay names
its channels after the database number (``bot.cluster.node.relay_prefix``)."""

from __future__ import annotations

from bot.cluster.node import relay_prefix
from bot.events import EventKind
from tests.cluster.test_relay import fence, redis_url, without_fences, worker

__all__ = ["redis_url"]  # the module fixture: the real Redis, or a skip


def test_the_relay_prefix_is_the_redis_database_number() -> None:
    assert relay_prefix("redis://127.0.0.1:6379/3") == "helpdesk:3"
    assert relay_prefix("redis://:secret@redis.internal:6379/12") == "helpdesk:12"
    assert relay_prefix("redis://127.0.0.1:6379") == "helpdesk:0"
    assert relay_prefix("redis://127.0.0.1:6379?db=5") == "helpdesk:5"


async def test_two_redis_databases_on_one_server_keep_their_desk_events_apart(
    redis_url: str,
) -> None:
    server = redis_url.rsplit("/", 1)[0] if redis_url.count("/") > 2 else redis_url
    one, two = f"{server}/13", f"{server}/14"
    async with (
        worker("one-a", one, relay_prefix(one)) as one_a,
        worker("one-b", one, relay_prefix(one)) as one_b,
        worker("two-a", two, relay_prefix(two)) as two_a,
        worker("two-b", two, relay_prefix(two)) as two_b,
    ):
        one_a.publish(EventKind.MESSAGE, 1, text="for deployment one only")
        await fence(one_a, one_b)  # Redis has handed the message to every subscriber
        # Published after that: had "two" shared the channel, the message would have
        # reached two-a before this fence did.
        await fence(two_b, two_a)
        assert [e.data.get("text") for e in without_fences(one_b.seen)] == [
            "for deployment one only"
        ]
        assert without_fences(two_a.seen) == []
