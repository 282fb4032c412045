"""Metadata removed from customers' photos before anyone else sees them.

A phone's photo carries EXIF: where it was taken (GPS), the device, the time, sometimes a
thumbnail of the uncropped picture. None of it helps an agent look at a broken charger,
so it is dropped where that is cheap: JPEG (APP1 Exif/XMP, APP13 IPTC and comment
segments) and PNG (``eXIf`` and text chunks). The picture's own data is never decoded or
re-encoded. A JPEG's orientation is kept (as a minimal Exif segment holding only it), or
a portrait photo would show sideways. WebP, GIF and PDF are kept as sent.

A file these walkers cannot follow (truncated, odd) is kept as it is: the type was
already checked, and a viewer that cannot parse it cannot read its metadata either.
"""

from __future__ import annotations

import logging
import struct

log = logging.getLogger(__name__)

_JPEG_DROPPED = {0xE1, 0xED, 0xFE}  # APP1 (Exif, XMP), APP13 (IPTC), COM
_PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_ORIENTATION = 0x0112


def strip_metadata(data: bytes, mime_type: str) -> bytes:
    """``data`` without its metadata, for the types this module knows; else unchanged."""
    try:
        if mime_type == "image/jpeg":
            return _strip_jpeg(data)
        if mime_type == "image/png":
            return _strip_png(data)
    except (ValueError, IndexError, struct.error) as exc:
        log.info("kept a %s as sent: %s", mime_type, exc)
    return data


def _strip_jpeg(data: bytes) -> bytes:
    if data[:2] != b"\xff\xd8":
        raise ValueError("no JPEG start")
    out = [data[:2]]
    orientation = 1
    pos = 2
    while True:
        if data[pos] != 0xFF:
            raise ValueError(f"no marker at {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xDA:  # start of scan: the picture itself, to the end
            if orientation != 1:
                out.insert(1, _orientation_segment(orientation))
            out.append(data[pos:])
            return b"".join(out)
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out.append(data[pos : pos + 2])
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        end = pos + 2 + length
        if length < 2 or end > len(data):
            raise ValueError("segment past the end")
        if marker in _JPEG_DROPPED:
            body = data[pos + 4 : end]
            if marker == 0xE1 and body.startswith(b"Exif\x00\x00"):
                orientation = _orientation_of(body[6:]) or orientation
        else:
            out.append(data[pos:end])
        pos = end


def _orientation_of(tiff: bytes) -> int | None:
    """The orientation tag of an Exif block's first directory, if it has one."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (offset,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[offset : offset + 2])
    for i in range(min(count, 512)):
        entry = tiff[offset + 2 + 12 * i : offset + 14 + 12 * i]
        tag, kind = struct.unpack(order + "HH", entry[:4])
        if tag == _ORIENTATION and kind == 3:
            (value,) = struct.unpack(order + "H", entry[8:10])
            return value if 1 <= value <= 8 else None
    return None


def _orientation_segment(orientation: int) -> bytes:
    """An APP1 Exif segment with one tag: the orientation (big-endian TIFF, one IFD)."""
    tiff = (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + struct.pack(">H", 1)
        + struct.pack(">HHIHH", _ORIENTATION, 3, 1, orientation, 0)
        + struct.pack(">I", 0)
    )
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def _strip_png(data: bytes) -> bytes:
    out = [data[:8]]
    pos = 8
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(data):
            raise ValueError("chunk past the end")
        if kind not in _PNG_DROPPED:
            out.append(data[pos:end])
        pos = end
        if kind == b"IEND":
            break
    return b"".join(out)
