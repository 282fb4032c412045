"""The API's request bodies and responses, as pydantic models (also the OpenAPI schemas)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Priority = Literal["low", "normal", "high", "urgent"]
Status = Literal["new", "open", "pending", "resolved", "closed"]
# Tickets change status through the lifecycle; nobody moves one back to ``new``.
SettableStatus = Literal["open", "pending", "resolved", "closed"]


# JSON Schema patterns search (unanchored); NUL is refused (PostgreSQL cannot store it).
TEXT = r"^[^\x00]*$"
WORDS = r"^[^\x00]*[^\x00\s][^\x00]*$"


class _Strict(BaseModel):
    # Python's re: the same \s as str.strip() in the service and as schemathesis uses.
    # strict: JSON types only ("1" is not an id, "yes" is not a boolean).
    model_config = ConfigDict(extra="forbid", regex_engine="python-re", strict=True)


class TicketCreate(_Strict):
    subject: str = Field(min_length=1, max_length=300, pattern=WORDS)
    description: str = Field(default="", max_length=16000, pattern=TEXT)
    priority: Priority = "normal"
    customer_name: str | None = Field(default=None, max_length=200, pattern=TEXT)
    contact: str | None = Field(default=None, max_length=200, pattern=TEXT)
    language: str | None = Field(default=None, pattern=r"^[a-z]{2,3}$")


class TicketUpdate(_Strict):
    status: SettableStatus | None = None
    priority: Priority | None = None
    assignee_id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    unassign: bool = False


class CommentCreate(_Strict):
    text: str = Field(min_length=1, max_length=4000, pattern=WORDS)
    public: bool = False
    """``true``: a reply sent to the customer on their channel; ``false``: an internal note."""


class Person(BaseModel):
    id: int
    name: str | None


class Sla(BaseModel):
    first_response_due: datetime | None
    resolution_due: datetime | None
    resolution_paused_since: datetime | None = None
    """Set while the ticket waits on the customer: the resolution clock is stopped."""
    first_responded_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None


class TicketEventOut(BaseModel):
    kind: str
    actor: str
    detail: str
    created_at: datetime


class TicketOut(BaseModel):
    id: int
    reference: str
    subject: str
    description: str
    status: Status
    priority: str
    language: str | None
    contact: str | None
    channel: str | None
    customer: Person
    assignee: Person | None
    sla: Sla
    created_at: datetime
    updated_at: datetime


class TicketDetail(TicketOut):
    events: list[TicketEventOut]


class TicketPage(BaseModel):
    items: list[TicketOut]
    page: int
    per_page: int
    total: int


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[dict[str, object]] | None = None


class Error(BaseModel):
    error: ErrorBody


SCHEMAS: tuple[type[BaseModel], ...] = (
    TicketCreate,
    TicketUpdate,
    CommentCreate,
    TicketOut,
    TicketDetail,
    TicketPage,
    Error,
)
