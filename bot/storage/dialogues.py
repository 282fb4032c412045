"""Open multi-turn dialogues, one per conversation at most (see :mod:`bot.intents.dialogue`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Dialogue


class DialogueRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, conversation_id: int) -> Dialogue | None:
        return await self.session.get(Dialogue, conversation_id)

    async def open(
        self, conversation_id: int, *, name: str, step: str, data: dict[str, Any]
    ) -> Dialogue:
        """Start a dialogue, replacing any other open in the conversation."""
        await self.close(conversation_id)
        dialogue = Dialogue(conversation_id=conversation_id, name=name, step=step, data=data)
        self.session.add(dialogue)
        await self.session.flush()
        return dialogue

    async def close(self, conversation_id: int) -> None:
        dialogue = await self.get(conversation_id)
        if dialogue is not None:
            await self.session.delete(dialogue)
            await self.session.flush()
