"""Metadata removed from customers' photos before anyone else sees them.

A phone's photo carries EXIF: where it was taken (GPS), the device, the time, sometimes a
thumbnail of the uncropped picture. None of it helps an agent look at a broken charger,
so it is dropped where that is cheap: JPEG (APP1 Exif/XMP, APP13 IPTC and comment
segments), PNG (``eXIf`` and text chunks) and WebP (``EXIF`` and ``XMP `` chunks, with the
``VP8X`` header's flags and the RIFF size made to match). The picture's own data is never
decoded or re-encoded. A JPEG's or WebP's orientation is kept (as a minimal Exif block
holding only it), or a portrait photo would show sideways. GIF and PDF are kept as sent.

A file these walkers cannot follow (truncated, odd) is kept as it is: the type was
already checked, and a viewer that cannot parse it cannot read its metadata either.
"""

from __future__ import annotations

import contextlib
import logging
import struct

log = logging.getLogger(__name__)

_JPEG_DROPPED = {0xE1, 0xED, 0xFE}  # APP1 (Exif, XMP), APP13 (IPTC), COM
_PNG_DROPPED = {b"eXIf", b"tEXt", b"zTXt", b"iTXt", b"tIME"}
_ORIENTATION = 0x0112
_WEBP_DROPPED = {b"EXIF", b"XMP "}
_VP8X_EXIF, _VP8X_XMP = 0x08, 0x04  # the extended header's flags for those chunks


def strip_metadata(data: bytes, mime_type: str) -> bytes:
    """``data`` without its metadata, for the types this module knows; else unchanged."""
    try:
        if mime_type == "image/jpeg":
            return _strip_jpeg(data)
        if mime_type == "image/png":
            return _strip_png(data)
        if mime_type == "image/webp":
            return _strip_webp(data)
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


def _orientation_tiff(orientation: int) -> bytes:
    """An Exif block with one tag: the orientation (big-endian TIFF, one IFD)."""
    return (
        b"MM\x00\x2a\x00\x00\x00\x08"
        + struct.pack(">H", 1)
        + struct.pack(">HHIHH", _ORIENTATION, 3, 1, orientation, 0)
        + struct.pack(">I", 0)
    )


def _orientation_segment(orientation: int) -> bytes:
    """An APP1 Exif segment holding only the orientation."""
    body = b"Exif\x00\x00" + _orientation_tiff(orientation)
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


def _strip_webp(data: bytes) -> bytes:
    """The RIFF container's chunks without ``EXIF`` and ``XMP ``; nothing after its end."""
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        raise ValueError("no WebP header")
    (riff_size,) = struct.unpack("<I", data[4:8])
    end = 8 + riff_size
    if end > len(data) or riff_size < 4:
        raise ValueError("RIFF size past the end")
    chunks: list[bytes] = []
    orientation = 1
    dropped = False
    exif_at = 0  # where the Exif block was: a kept orientation goes back there
    pos = 12
    while pos < end:
        kind = data[pos : pos + 4]
        (length,) = struct.unpack("<I", data[pos + 4 : pos + 8])
        body_end = pos + 8 + length
        if body_end > end:
            raise ValueError("chunk past the end")
        if kind in _WEBP_DROPPED:
            dropped = True
            if kind == b"EXIF":
                exif_at = len(chunks)
                body = data[pos + 8 : body_end]
                tiff = body[6:] if body.startswith(b"Exif\x00\x00") else body
                # An unreadable block is dropped all the same; the picture shows as stored.
                with contextlib.suppress(ValueError, IndexError, struct.error):
                    orientation = _orientation_of(tiff) or orientation
        else:
            chunks.append(data[pos:body_end] + (b"\x00" if length % 2 else b""))
        pos = body_end + length % 2  # odd chunks are padded to an even length
    if not dropped:
        return data[:end]
    extended = bool(chunks) and chunks[0][:4] == b"VP8X" and len(chunks[0]) >= 9
    if extended:
        flags = chunks[0][8] & ~(_VP8X_EXIF | _VP8X_XMP)
        if orientation != 1:
            tiff = _orientation_tiff(orientation)
            chunks.insert(exif_at, b"EXIF" + struct.pack("<I", len(tiff)) + tiff)
            flags |= _VP8X_EXIF
        chunks[0] = chunks[0][:8] + bytes([flags]) + chunks[0][9:]
    body = b"WEBP" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body
