"""A file the customer sends shows in the Slack desk's thread by kind and name."""

from __future__ import annotations

import dataclasses

from bot.messages import Attachment
from tests.desk.test_slack_desk import SlackDeskRig, desk

__all__ = ["desk"]  # the Slack desk rig (real bolt app and client, fake Slack)


async def test_a_photo_in_a_handed_off_chat_is_named_in_the_thread(desk: SlackDeskRig) -> None:
    conversation_id, ts = await desk.hand_off()
    await desk.rig.desk.claim(desk.bob, conversation_id)
    photo = Attachment(
        kind="photo",
        file_id="F" * 32,
        file_name="broken <charger>.png",
        mime_type="image/png",
        size=2048,
        details={"stored": True},
    )
    captioned = dataclasses.replace(
        desk.rig.channel.message("it arrived like this"), attachments=(photo,)
    )
    await desk.rig.engine.receive(captioned)
    await desk.in_thread(
        ts, "*Alice:* it arrived like this _(photo: broken &lt;charger&gt;.png, in the console)_"
    )
    bare = dataclasses.replace(
        desk.rig.channel.message(""),
        attachments=(Attachment(kind="document", file_id="t-1", file_name="bill.pdf"),),
    )
    await desk.rig.engine.receive(bare)
    await desk.in_thread(ts, "*Alice:* _(document: bill.pdf)_")
