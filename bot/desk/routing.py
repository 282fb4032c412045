"""Queue routing: who should take which waiting chat. Pure functions over snapshots.

The queue is served oldest first. Agents have languages and a maximum of
concurrent chats; an agent *can take* a chat when they are online (chose "online"
in the console and checked in recently) and below their maximum.

- :func:`choose_agent` names the best agent for one chat: among agents who can take
  it, those who speak the customer's language first, then the least loaded
  (share of their maximum), then the one who has waited longest for a chat.
- :func:`next_for` is what "Take next" gives an agent: the oldest chat in one of
  their languages; else the oldest chat no other free agent speaks the language of;
  else the oldest chat of all.
- :func:`position_update` decides when a waiting customer hears their new position.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.storage.models import Agent, AgentPresence, aware


@dataclass(frozen=True, slots=True)
class AgentLoad:
    id: int
    name: str
    languages: tuple[str, ...]
    max_chats: int
    active: int
    online: bool

    @property
    def free(self) -> int:
        return max(0, self.max_chats - self.active)

    @property
    def can_take(self) -> bool:
        return self.online and self.free > 0

    def speaks(self, language: str | None) -> bool:
        return language is not None and language in self.languages


@dataclass(frozen=True, slots=True)
class Waiting:
    conversation_id: int
    language: str | None
    queued_at: datetime


def is_online(agent: Agent, *, now: datetime, timeout: timedelta) -> bool:
    """Chose "online" in the console, and the console checked in within ``timeout``."""
    if agent.presence != AgentPresence.ONLINE or agent.presence_at is None:
        return False
    return now - aware(agent.presence_at) <= timeout


def loads(
    agents: Sequence[Agent], active: dict[int, int], *, now: datetime, timeout: timedelta
) -> list[AgentLoad]:
    return [
        AgentLoad(
            id=agent.id,
            name=agent.name,
            languages=tuple(agent.language_list),
            max_chats=agent.max_chats,
            active=active.get(agent.id, 0),
            online=is_online(agent, now=now, timeout=timeout),
        )
        for agent in agents
    ]


def choose_agent(language: str | None, agents: Sequence[AgentLoad]) -> AgentLoad | None:
    candidates = [a for a in agents if a.can_take]
    speakers = [a for a in candidates if a.speaks(language)]
    pool = speakers or candidates
    if not pool:
        return None
    return min(pool, key=lambda a: (a.active / max(a.max_chats, 1), a.active, a.id))


def next_for(
    agent: AgentLoad, queue: Sequence[Waiting], agents: Sequence[AgentLoad]
) -> Waiting | None:
    """The chat "Take next" gives ``agent``; ``queue`` is oldest first."""
    if not queue:
        return None
    own = [w for w in queue if agent.speaks(w.language)]
    if own:
        return own[0]
    others = [a for a in agents if a.id != agent.id and a.can_take]
    orphaned = [w for w in queue if not any(a.speaks(w.language) for a in others)]
    return orphaned[0] if orphaned else queue[0]


def position_update(position: int, told: int | None, *, step: int) -> bool:
    """Tell the customer their position now? At first, when next in line, or after a
    move of at least ``step`` places; never for a move backwards or a small shuffle."""
    if told is None:
        return True
    if position >= told:
        return False
    return position == 1 or told - position >= step
