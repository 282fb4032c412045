"""The README reads right to a newcomer: links lead somewhere, commands say where they live."""

from __future__ import annotations

import re

from tests.conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_link_in_the_readme_leads_somewhere() -> None:
    anchors = {slug(line.lstrip("#")) for line in README.splitlines() if line.startswith("#")}
    for target in LINK.findall(README):
        if target.startswith(("http://", "https://")):
            continue
        path, _, anchor = target.partition("#")
        if path:
            assert (ROOT / path).exists(), f"README links to a missing file: {target}"
        else:
            assert anchor in anchors, f"README links to a missing section: {target}"


def test_every_channel_names_its_guide() -> None:
    table = README.split("| channel | turned on by |", 1)[1].split("\n\n", 1)[0]
    for row in table.splitlines()[2:]:
        guide = row.rstrip(" |").rsplit("|", 1)[1]
        assert LINK.search(guide), f"a channel without a guide to follow: {row}"


def test_where_the_helpdesk_command_lives_is_said_before_it_is_used_bare() -> None:
    first_bare = re.search(r"^helpdesk ", README, re.MULTILINE)
    assert first_bare is not None
    before = README[: first_bare.start()]
    assert ".venv/bin/helpdesk" in before and ". .venv/bin/activate" in before
