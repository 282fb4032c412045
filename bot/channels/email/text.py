"""A mail's words: plain text from text/plain or from HTML, without quoted history or signature.

Customers reply above (sometimes below) the whole earlier thread; the bot and the agents
need only what is new. What is cut: lines quoted with ``>``, everything from a client's
attribution line ("On Mon, ... wrote:", Outlook's "-----Original Message-----" or
"From: ... Sent: ..." block), and a signature after the standard ``-- `` delimiter or a
"Sent from my phone" line. HTML is read as text with the standard library's parser:
scripts, styles and quoted blocks (``<blockquote>``, Gmail's ``gmail_quote``, Outlook's
``divRplyFwdMsg``) are dropped, nothing of it is ever rendered.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

__all__ = ["html_to_text", "new_text"]

_SKIPPED = {"script", "style", "head", "title", "blockquote"}
_BLOCKS = {"p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"}
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend", "mail-editor-reference-message-container")
_VOID = {"br", "hr", "img", "meta", "link", "input", "wbr", "col", "area", "base", "source"}


class _TextOfHtml(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []  # the open elements whose content is dropped
        self.ended = False  # Outlook's quoted history: everything after it is old

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.ended:
            return
        found = dict(attrs)
        classes = (found.get("class") or "").lower()
        ident = (found.get("id") or "").lower()
        if ident in _QUOTE_IDS:
            self.ended = True
            return
        if self._skipping:
            if tag not in _VOID:
                self._skipping.append(tag)
            return
        if tag in _SKIPPED or any(c in classes for c in _QUOTE_CLASSES):
            if tag not in _VOID:
                self._skipping.append(tag)
            return
        if tag == "br":
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if self.ended:
            return
        if self._skipping:
            # Tolerate sloppy HTML: close up to the matching open element.
            if tag in self._skipping:
                while self._skipping and self._skipping.pop() != tag:
                    pass
            return
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self.ended and not self._skipping:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """The readable text of an HTML body, quoted parts left out."""
    parser = _TextOfHtml()
    parser.feed(html)
    parser.close()
    lines = [re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(parser.parts).split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


# An attribution line, in the languages of common clients; it may wrap onto a second line.
_ATTRIBUTION = re.compile(
    r"^(On\b.{0,200}\bwrote:|Am\b.{0,200}\bschrieb.{0,60}:|Le\b.{0,200}\ba écrit\s*:"
    r"|El\b.{0,200}\bescribió:|Il\b.{0,200}\bha scritto:|Op\b.{0,200}\bschreef.{0,60}:"
    r"|-{2,}\s*Original Message\s*-{2,}|-{2,}\s*Forwarded message\s*-{2,}|_{10,})\s*$",
    re.IGNORECASE | re.DOTALL,
)
_HEADER_BLOCK = re.compile(r"^(From|Von|De|Da):\s.+", re.IGNORECASE)
_HEADER_NAMES = {"sent", "date", "to", "subject", "gesendet", "an", "betreff", "envoyé"}
_SENT_FROM = re.compile(r"^(Sent from my|Get Outlook for|Envoyé de mon)\b", re.IGNORECASE)


def new_text(text: str) -> str:
    """What the sender wrote this time: quotes, attribution and signature removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    kept: list[str] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if stripped in ("--", "-- ") or line == "-- " or _SENT_FROM.match(stripped):
            break  # the signature, and whatever follows it
        joined = stripped + " " + lines[index + 1].strip() if index + 1 < len(lines) else stripped
        if _ATTRIBUTION.match(stripped) or (
            stripped.startswith(("On ", "Am ", "Le ")) and _ATTRIBUTION.match(joined)
        ):
            break
        if _HEADER_BLOCK.match(stripped) and _is_header_block(lines[index : index + 5]):
            break  # Outlook's "From: ... Sent: ... To: ... Subject:" over the old mail
        if stripped.startswith(">"):
            continue
        kept.append(line.rstrip())
    result = "\n".join(kept).strip()
    return re.sub(r"\n{3,}", "\n\n", result)


def _is_header_block(lines: list[str]) -> bool:
    names = {line.split(":", 1)[0].strip().lower() for line in lines if ":" in line}
    return len(names & _HEADER_NAMES) >= 2
