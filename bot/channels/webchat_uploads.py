"""Files a customer sends in the web chat: what is accepted, and what is kept of it.

The widget posts the file's bytes to ``/webchat/upload`` (:mod:`bot.web.webchat_uploads`),
then sends a ``message`` frame that names the upload's id. Everything here is pure: the
type is read from the bytes (magic numbers), never from the name or the type the browser
declared; the name is only a label, cleaned for display and for a download header.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bot.channels.image_metadata import strip_metadata

MAX_NAME = 120
"""A file name is shown to agents and put in a download header, never used as a path."""


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """``channels.webchat.uploads``: how big, and how many per session and hour."""

    enabled: bool = True
    max_bytes: int = 10 * 1024 * 1024
    per_hour: int = 20


@dataclass(frozen=True, slots=True)
class FileType:
    mime_type: str
    kind: str
    """``photo`` (shown inline to agents) or ``document`` (downloaded)."""
    extension: str


JPEG = FileType("image/jpeg", "photo", "jpg")
PNG = FileType("image/png", "photo", "png")
GIF = FileType("image/gif", "photo", "gif")
WEBP = FileType("image/webp", "photo", "webp")
PDF = FileType("application/pdf", "document", "pdf")

ACCEPTED = (JPEG, PNG, GIF, WEBP, PDF)


def sniff(data: bytes) -> FileType | None:
    """The file's type from its first bytes, or ``None``: not one we take.

    SVG and HTML are never accepted (they run scripts when opened), whatever they claim.
    """
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return GIF
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    if data.startswith(b"%PDF-"):
        return PDF
    return None


def clean_name(declared: str | None, file_type: FileType) -> str:
    """A label for the file: printable, no path, at most :data:`MAX_NAME` characters,
    ending in the extension of what the bytes are (a ``photo.pdf`` that is a PNG is
    ``photo.pdf.png``)."""
    name = unicodedata.normalize("NFC", declared or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] not in "CZ" or c == " ")
    name = re.sub(r"\s+", " ", name).strip(" .")
    stem = name or "file"
    if not stem.lower().endswith(f".{file_type.extension}") and not (
        file_type is JPEG and stem.lower().endswith(".jpeg")
    ):
        stem = f"{stem}.{file_type.extension}"
    if len(stem) > MAX_NAME:
        suffix = f".{file_type.extension}"
        stem = stem[: MAX_NAME - len(suffix)].rstrip(" .") + suffix
    return stem


@dataclass(frozen=True, slots=True)
class Accepted:
    """An upload that passed: the bytes to keep (metadata stripped), their type, a name."""

    data: bytes
    file_type: FileType
    file_name: str


class UploadRefused(ValueError):
    """Why an upload is not taken; ``reason`` is the phrase key the customer is told."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def accept(data: bytes, *, declared_name: str | None, limits: UploadLimits) -> Accepted:
    """The upload to keep, or :class:`UploadRefused` (too big, empty, not a type we take)."""
    if len(data) > limits.max_bytes:
        raise UploadRefused("upload_too_large", f"larger than {limits.max_bytes} bytes")
    if not data:
        raise UploadRefused("upload_type", "an empty file")
    file_type = sniff(data)
    if file_type is None:
        raise UploadRefused("upload_type", "not a JPEG, PNG, GIF, WebP or PDF file")
    return Accepted(
        data=strip_metadata(data, file_type.mime_type),
        file_type=file_type,
        file_name=clean_name(declared_name, file_type),
    )
