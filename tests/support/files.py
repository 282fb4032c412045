"""Small real files for the upload tests: a PNG any browser draws, a JPEG with Exif, a
WebP with Exif and XMP."""

from __future__ import annotations

import struct
import zlib

GPS_MARK = b"GPS 23.0225N 72.5714E secret"
"""Stands for what a phone writes into a photo: it must never reach an agent."""


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = zlib.crc32(kind + body) & 0xFFFFFFFF
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)


def png(width: int = 24, height: int = 16, *, rgb: tuple[int, int, int] = (200, 40, 40)) -> bytes:
    """A valid PNG of one colour, with a text chunk and an ``eXIf`` chunk carrying
    :data:`GPS_MARK` (both dropped on upload)."""
    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"tEXt", b"Comment\x00" + GPS_MARK)
        + _chunk(b"eXIf", b"MM\x00*" + GPS_MARK)
        + _chunk(b"IDAT", zlib.compress(row * height))
        + _chunk(b"IEND", b"")
    )


def jpeg_with_exif(orientation: int = 6) -> bytes:
    """A JPEG's segment structure (not a decodable picture): Exif with an orientation and
    :data:`GPS_MARK`, a comment, a quantisation table and the scan."""
    ifd = struct.pack(">H", 2) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack(">HHII", 0x010E, 2, len(GPS_MARK), 8 + 2 + 24 + 4)
    tiff = b"MM\x00*\x00\x00\x00\x08" + ifd + struct.pack(">I", 0) + GPS_MARK
    exif = b"Exif\x00\x00" + tiff
    comment = b"taken at " + GPS_MARK
    dqt = b"\x00" + bytes(range(64))
    return (
        b"\xff\xd8"
        + b"\xff\xe1"
        + struct.pack(">H", len(exif) + 2)
        + exif
        + b"\xff\xfe"
        + struct.pack(">H", len(comment) + 2)
        + comment
        + b"\xff\xdb"
        + struct.pack(">H", len(dqt) + 2)
        + dqt
        + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00"
        + b"\x12\x34\x56\x78"
        + b"\xff\xd9"
    )


WEBP_1X1 = (
    b"RIFF\x1a\x00\x00\x00WEBPVP8L\r\x00\x00\x00"
    b"/\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
)
"""A real one-pixel lossless WebP (the simple format: one ``VP8L`` chunk, no metadata)."""


def webp_chunk(kind: bytes, body: bytes) -> bytes:
    """A RIFF chunk: FourCC, little-endian size, body padded to an even length."""
    return kind + struct.pack("<I", len(body)) + body + (b"\x00" if len(body) % 2 else b"")


def webp_with_exif(orientation: int = 6) -> bytes:
    """:data:`WEBP_1X1`'s picture in the extended format with an ``EXIF`` chunk (an
    orientation and :data:`GPS_MARK`, odd-sized: padded) and an ``XMP `` chunk, the
    ``VP8X`` header flagging both, as a phone's camera app writes them."""
    ifd = struct.pack(">H", 2) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    ifd += struct.pack(">HHII", 0x010E, 2, len(GPS_MARK), 8 + 2 + 24 + 4)
    tiff = b"MM\x00*\x00\x00\x00\x08" + ifd + struct.pack(">I", 0) + GPS_MARK + b"!"
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + GPS_MARK + b"</x:xmpmeta>"
    vp8x = bytes([0x08 | 0x04, 0, 0, 0]) + b"\x00\x00\x00" + b"\x00\x00\x00"  # 1x1 canvas
    body = (
        b"WEBP"
        + webp_chunk(b"VP8X", vp8x)
        + WEBP_1X1[12:]  # the VP8L chunk as it is
        + webp_chunk(b"EXIF", tiff)
        + webp_chunk(b"XMP ", xmp)
    )
    return b"RIFF" + struct.pack("<I", len(body)) + body


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML_AS_PNG = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
