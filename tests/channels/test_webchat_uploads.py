"""What the web chat accepts as a file, and what it keeps of it (pure: no server)."""

from __future__ import annotations

import pytest

from bot.channels.image_metadata import strip_metadata
from bot.channels.webchat import FrameError, to_inbound
from bot.channels.webchat_uploads import (
    GIF,
    JPEG,
    PDF,
    PNG,
    WEBP,
    UploadLimits,
    UploadRefused,
    accept,
    clean_name,
    sniff,
)
from tests.support import files


def test_the_type_comes_from_the_bytes() -> None:
    assert sniff(files.png()) is PNG
    assert sniff(files.jpeg_with_exif()) is JPEG
    assert sniff(b"GIF89a" + b"\x00" * 20) is GIF
    assert sniff(b"RIFF\x10\x00\x00\x00WEBPVP8 ") is WEBP
    assert sniff(files.PDF) is PDF
    for other in (files.HTML_AS_PNG, files.SVG, b"MZ\x90\x00", b"PK\x03\x04", b"", b"\x89PN"):
        assert sniff(other) is None


def test_refusals_say_which_phrase_the_customer_gets() -> None:
    limits = UploadLimits(max_bytes=1000)
    with pytest.raises(UploadRefused) as big:
        accept(
            files.png(64, 64, rgb=(1, 2, 3)) + b"\x00" * 1000, declared_name="a.png", limits=limits
        )
    assert big.value.reason == "upload_too_large"
    for data in (files.HTML_AS_PNG, files.SVG, b""):
        with pytest.raises(UploadRefused) as wrong:
            accept(data, declared_name="cat.png", limits=limits)
        assert wrong.value.reason == "upload_type"


def test_names_are_labels_not_paths() -> None:
    assert clean_name("../../etc/passwd", PNG) == "passwd.png"
    assert clean_name("C:\\Users\\asha\\IMG_0042.JPG", JPEG) == "IMG_0042.JPG"
    assert clean_name("photo.jpeg", JPEG) == "photo.jpeg"
    assert clean_name("invoice.pdf", PNG) == "invoice.pdf.png"  # says what it really is
    assert clean_name("a\x00b\nc\u202e.png", PNG) == "abc.png"  # controls, bidi override
    assert clean_name("", PDF) == "file.pdf"
    assert clean_name(None, GIF) == "file.gif"
    long = clean_name("x" * 500 + ".png", PNG)
    assert len(long) == 120 and long.endswith(".png")


def test_png_metadata_is_dropped_and_the_picture_kept() -> None:
    original = files.png()
    stripped = strip_metadata(original, "image/png")
    assert files.GPS_MARK in original and files.GPS_MARK not in stripped
    assert b"IHDR" in stripped and b"IDAT" in stripped and stripped.endswith(b"IEND\xaeB`\x82")
    assert b"tEXt" not in stripped and b"eXIf" not in stripped
    # Bytes after the picture's end (a zip or a script glued on) are not kept either.
    assert strip_metadata(original + b"PK\x03\x04 hidden", "image/png") == stripped


def test_jpeg_exif_is_dropped_but_its_orientation_kept() -> None:
    original = files.jpeg_with_exif(orientation=6)
    stripped = strip_metadata(original, "image/jpeg")
    assert files.GPS_MARK in original and files.GPS_MARK not in stripped
    assert stripped.startswith(b"\xff\xd8\xff\xe1")  # a minimal Exif: the orientation alone
    assert (
        b"Exif\x00\x00MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06"
        in stripped
    )
    assert b"\xff\xdb" in stripped and stripped.endswith(b"\x12\x34\x56\x78\xff\xd9")
    upright = strip_metadata(files.jpeg_with_exif(orientation=1), "image/jpeg")
    assert b"Exif" not in upright


def webp_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """A WebP's chunks (FourCC, body), checking the RIFF size and every chunk's."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    assert int.from_bytes(data[4:8], "little") == len(data) - 8
    chunks, pos = [], 12
    while pos < len(data):
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        chunks.append((data[pos : pos + 4], data[pos + 8 : pos + 8 + size]))
        pos += 8 + size + size % 2
    assert pos == len(data)
    return chunks


def test_webp_exif_and_xmp_are_dropped_but_its_orientation_kept() -> None:
    original = files.webp_with_exif(orientation=6)
    assert [kind for kind, _ in webp_chunks(original)] == [b"VP8X", b"VP8L", b"EXIF", b"XMP "]
    stripped = accept(original, declared_name="p.webp", limits=UploadLimits()).data
    assert files.GPS_MARK in original and files.GPS_MARK not in stripped
    chunks = webp_chunks(stripped)
    assert [kind for kind, _ in chunks] == [b"VP8X", b"VP8L", b"EXIF"]
    assert chunks[0][1][0] == 0x08  # VP8X: Exif flagged, XMP no longer
    assert chunks[0][1][1:] == webp_chunks(original)[0][1][1:]  # the canvas unchanged
    assert chunks[1] == webp_chunks(files.WEBP_1X1)[0]  # the picture not re-encoded
    assert chunks[2][1] == (  # a minimal Exif: the orientation alone
        b"MM\x00*\x00\x00\x00\x08\x00\x01\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00"
        b"\x00\x00\x00\x00"
    )
    upright = strip_metadata(files.webp_with_exif(orientation=1), "image/webp")
    assert [kind for kind, _ in webp_chunks(upright)] == [b"VP8X", b"VP8L"]
    assert webp_chunks(upright)[0][1][0] == 0  # no flags left
    # The simple format has nothing to drop; bytes after the RIFF's end are not kept.
    assert strip_metadata(files.WEBP_1X1, "image/webp") == files.WEBP_1X1
    assert strip_metadata(files.WEBP_1X1 + b"PK\x03\x04 hidden", "image/webp") == files.WEBP_1X1
    assert strip_metadata(original + b"<script>", "image/webp") == stripped


def test_a_file_the_walker_cannot_follow_is_kept_as_sent() -> None:
    truncated = files.jpeg_with_exif()[:30]
    assert strip_metadata(truncated, "image/jpeg") == truncated
    assert strip_metadata(files.PDF, "application/pdf") == files.PDF
    cut_webp = files.webp_with_exif()[:40]  # the RIFF size says more than there is
    assert strip_metadata(cut_webp, "image/webp") == cut_webp


def test_a_message_frame_may_carry_an_upload_instead_of_text() -> None:
    upload = "A" * 32
    inbound = to_inbound(
        "session-1", {"type": "message", "id": "f1", "attachment": upload}, language_hint=None
    )
    assert inbound.text == ""
    assert [a.file_id for a in inbound.attachments] == [upload]
    captioned = to_inbound(
        "session-1",
        {"type": "message", "id": "f2", "text": " broken ", "attachment": upload},
        language_hint=None,
    )
    assert captioned.text == "broken" and captioned.attachments
    for bad in ("../x", "short", 7, "A" * 65):
        with pytest.raises(FrameError):
            to_inbound(
                "session-1", {"type": "message", "id": "f3", "attachment": bad}, language_hint=None
            )
    with pytest.raises(FrameError):  # neither words nor a file
        to_inbound("session-1", {"type": "message", "id": "f4"}, language_hint=None)
