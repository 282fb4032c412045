"""Reading back what the code under test stored, typed by the model asked for."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import ColumnElement, inspect, select

from bot.storage.database import Database
from bot.storage.models import Base

Row = TypeVar("Row", bound=Base)


async def stored_rows(db: Database, model: type[Row], *where: ColumnElement[bool]) -> list[Row]:
    """The rows of ``model`` matching every condition in ``where``, in insertion order.

    Ordered by primary key: PostgreSQL returns unordered rows in physical order.
    """
    async with db.transaction() as session:
        stmt = select(model).where(*where).order_by(*inspect(model).primary_key)
        return list((await session.scalars(stmt)).all())
