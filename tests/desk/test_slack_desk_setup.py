"""Setting the Slack agent desk up: mapping agents to Slack users from the command line
(a real process and database), the setting, and the card's wording."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.desk.slack_cards import Card, Turn, card_message, change_line
from bot.handoff import State
from bot.settings import HandoffSettings
from bot.storage.database import Database
from bot.storage.repositories import AgentRepository
from tests.desk.test_console_cli import helpdesk


async def slack_user_of(db_file: Path, name: str) -> str | None:
    db = Database(f"sqlite+aiosqlite:///{db_file}")
    try:
        async with db.transaction() as session:
            agent = await AgentRepository(session).find(name)
            assert agent is not None
            return agent.slack_user_id
    finally:
        await db.dispose()


async def test_agents_are_mapped_to_slack_users_when_added_or_later(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    added = helpdesk(["agent", "add", "bob", "--slack-user", "U0BOB123"], db_file)
    assert added.returncode == 0, added.stderr
    assert "Slack user U0BOB123" in added.stdout
    assert await slack_user_of(db_file, "bob") == "U0BOB123"
    assert helpdesk(["agent", "add", "priya"], db_file).returncode == 0
    taken = helpdesk(["agent", "slack", "priya", "U0BOB123"], db_file)
    assert taken.returncode == 1 and "already mapped to agent 'bob'" in taken.stderr
    mapped = helpdesk(["agent", "slack", "priya", "U0PRIYA1"], db_file)
    assert mapped.returncode == 0 and "priya acts on the Slack desk as U0PRIYA1" in mapped.stdout
    assert "slack U0PRIYA1" in helpdesk(["agent", "list"], db_file).stdout
    cleared = helpdesk(["agent", "slack", "bob", "--clear"], db_file)
    assert cleared.returncode == 0
    assert await slack_user_of(db_file, "bob") is None


async def test_bad_slack_user_ids_are_refused_with_a_hint(tmp_path: Path) -> None:
    db_file = tmp_path / "desk.db"
    bad = helpdesk(["agent", "add", "bob", "--slack-user", "@bob"], db_file)
    assert bad.returncode == 1 and "looks like U0123ABCD" in bad.stderr
    assert "bob" not in helpdesk(["agent", "list"], db_file).stdout
    assert helpdesk(["agent", "add", "bob"], db_file).returncode == 0
    missing = helpdesk(["agent", "slack", "bob"], db_file)
    assert missing.returncode == 1 and "--clear" in missing.stderr
    ghost = helpdesk(["agent", "slack", "ghost", "U0GHOST1"], db_file)
    assert ghost.returncode == 1 and "no agent named 'ghost'" in ghost.stderr


def test_the_agents_channel_must_be_a_channel_id() -> None:
    assert HandoffSettings().slack_channel is None
    assert HandoffSettings(slack_channel="C0AGENTS").slack_channel == "C0AGENTS"
    with pytest.raises(ValidationError):
        HandoffSettings(slack_channel="#agents")


def test_customer_text_on_a_card_is_text_not_markup() -> None:
    card = Card(
        conversation_id=7,
        customer="<@U0BOSS> & co",
        channel="telegram",
        language="gu",
        reason="frustration",
        state=State.QUEUED,
        turns=(Turn("Customer", "<!channel> <script>alert(1)</script>"),),
    )
    message = card_message(card)
    assert message["text"].startswith("*&lt;@U0BOSS&gt; &amp; co* needs a person · Telegram · gu")
    shown = "\n".join(b["text"]["text"] for b in message["blocks"] if b["type"] == "section")
    assert "<" not in shown and "&lt;!channel&gt; &lt;script&gt;" in shown
    assert "the customer seems frustrated" in shown


def test_each_change_reads_as_a_line_in_the_thread() -> None:
    line = change_line(to_state=State.BOT, reason="timed_out", actor="bot", detail="ticket HD-1001")
    assert line == ":alarm_clock: Nobody claimed this chat in time; it became ticket HD-1001."
    transfer = change_line(
        to_state=State.AGENT, reason="transferred", actor="bob", detail="to priya"
    )
    assert transfer == ":arrows_counterclockwise: bob transferred this chat to priya"
