"""A rejected knowledge-base edit reaches the agents' Slack channel, with file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

from slack_sdk.web.async_client import AsyncWebClient

from bot.desk.slack_notices import MAX_LISTED, SlackKbNotifier, describe
from bot.knowledge.loader import KbError, LiveKnowledgeBase
from bot.nlu.kb_watch import KnowledgeWatcher
from tests.conftest import TEST_KB
from tests.support.fake_slack import FakeSlack

AGENTS = "C0AGENTS"


async def test_a_broken_edit_is_posted_to_the_agents_channel(tmp_path: Path) -> None:
    kb_dir = tmp_path / "kb"
    shutil.copytree(TEST_KB, kb_dir)
    kb = LiveKnowledgeBase(kb_dir, default_language="en")
    watcher = KnowledgeWatcher(kb)
    async with FakeSlack() as slack:
        client = AsyncWebClient(token=slack.bot_token, base_url=slack.base_url)
        watcher.notifiers.append(SlackKbNotifier(client, AGENTS))
        path = kb_dir / "shop.yml"
        lines = path.read_text(encoding="utf-8").splitlines()
        lines.insert(6, "    tags: [orders")  # an unclosed flow sequence: a YAML error
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        assert await watcher.check() is True
        [post] = slack.calls("chat.postMessage")
        error = watcher.status.errors[0]
        assert post.args["channel"] == AGENTS
        assert f"shop.yml:{error.line}" in post.args["text"]
        assert "last good version stays live" in post.args["text"]


def test_the_notice_is_escaped_and_bounded() -> None:
    errors = [KbError(Path("kb/a.yml"), i, "bad <b>&</b> value") for i in range(1, 26)]
    text = describe(errors)
    assert "&lt;b&gt;&amp;&lt;/b&gt;" in text and "<b>" not in text
    assert text.count("• ") == MAX_LISTED
    assert "and 5 more" in text
