"""Small real files for the upload tests: a PNG any browser draws, a JPEG with Exif."""

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


PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
HTML_AS_PNG = b"<html><script>alert(document.cookie)</script></html>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'
