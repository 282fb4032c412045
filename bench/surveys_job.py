"""What one run of the surveys job costs (bot/surveys/jobs.py), on SQLite and PostgreSQL.

Seeds N customers who each asked one FAQ question, got the answer and left 40 minutes
ago, then times the job's "who left" pass: the first run asks (up to 500 per run, the
query's limit), later runs find the rest; a final run, with everyone asked, is the
steady-state cost every minute. Delivery is left out (the line stores nothing): this is
the job's own database work.

    .venv/bin/python bench/surveys_job.py --customers 2000 \
        --url sqlite+aiosqlite:////tmp/surveys-bench.db
    .venv/bin/python bench/surveys_job.py --customers 2000 \
        --url postgresql+asyncpg://postgres@127.0.0.1:5432/surveys_bench
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from bot.i18n import Catalogue
from bot.messages import OutboundMessage
from bot.storage.database import Database
from bot.storage.migrate import upgrade_async
from bot.storage.models import (
    Conversation,
    ConversationState,
    Customer,
    Delivery,
    Direction,
    Message,
)
from bot.surveys.asking import Phrases
from bot.surveys.jobs import SurveyJobs
from bot.surveys.plan import SurveyPlan


class NoLine:
    async def store_outbound(
        self,
        session: AsyncSession,
        conversation: Conversation,
        replies: Sequence[OutboundMessage],
        *,
        language: str | None,
        agent_id: int | None = None,
    ) -> list[int]:
        return [0] * len(replies)

    async def deliver(self, row_ids: Sequence[int]) -> int:
        return 0


async def fresh(url: str) -> None:
    if url.startswith("sqlite"):
        Path(url.split("///", 1)[1]).unlink(missing_ok=True)
        return
    base, name = url.rsplit("/", 1)
    admin = create_async_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    async with admin.connect() as connection:
        await connection.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        await connection.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()


async def main(url: str, customers: int) -> None:
    await fresh(url)
    await upgrade_async(url)
    db = Database(url)
    asked_at = datetime.now(UTC) - timedelta(minutes=40)
    async with db.transaction() as session:
        for n in range(customers):
            customer = Customer(display_name=f"c{n}", created_at=asked_at)
            session.add(customer)
            await session.flush()
            conversation = Conversation(
                customer_id=customer.id,
                channel="telegram",
                conversation_key=f"k{n}",
                state=ConversationState.BOT,
                low_confidence_streak=0,
                language="en",
            )
            session.add(conversation)
            await session.flush()
            for direction, intent in ((Direction.IN, "faq/order_status"), (Direction.OUT, None)):
                session.add(
                    Message(
                        conversation_id=conversation.id,
                        channel="telegram",
                        direction=direction,
                        sender="customer" if direction == Direction.IN else "bot",
                        text="where is my order",
                        delivery=Delivery.PROCESSED if intent else Delivery.SENT,
                        intent=intent,
                        confidence=0.95 if intent else None,
                        nlu={"decision": "confident"} if intent else None,
                        created_at=asked_at,
                    )
                )
    job = SurveyJobs(
        db=db,
        line=NoLine(),
        plan=SurveyPlan.default(),
        phrases=Phrases(Catalogue.load(), "VoltCart"),
        answer_threshold=0.7,
    )
    runs = []
    while True:
        started = time.perf_counter()
        asked = await job.ask_who_left()
        runs.append((asked, time.perf_counter() - started))
        if asked == 0:
            break
    await db.dispose()
    print(f"{url.split(':', 1)[0]}, {customers} customers who left after an answer:")
    for number, (asked, seconds) in enumerate(runs, 1):
        print(f"  run {number}: asked {asked:4d} in {seconds * 1000:7.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--customers", type=int, default=2000)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.url, arguments.customers))
