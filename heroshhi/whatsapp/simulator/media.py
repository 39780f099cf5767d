"""Small, deterministic media files for inbound media messages (what a customer "sent")."""

from __future__ import annotations

import struct
import zlib

DEFAULT_MEDIA: dict[str, tuple[str, str]] = {
    # type: (mime type, file name)
    "image": ("image/png", "photo.png"),
    "sticker": ("image/webp", "sticker.webp"),
    "document": ("application/pdf", "document.pdf"),
    "audio": ("audio/ogg", "voice.ogg"),
    "video": ("video/mp4", "clip.mp4"),
}


def _png(seed: bytes) -> bytes:
    """A valid 1x1 RGB PNG whose colour depends on the seed."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    colour = (zlib.crc32(seed) & 0xFFFFFF).to_bytes(3, "big")
    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00" + colour)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _pdf(seed: bytes) -> bytes:
    text = seed.decode("ascii", "replace")[:60].replace("(", "").replace(")", "")
    stream = f"BT /F1 12 Tf 20 50 Td ({text}) Tj ET".encode()
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
        b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 200 100]/Contents 4 0 R>>endobj\n"
        + b"4 0 obj<</Length "
        + str(len(stream)).encode()
        + b">>stream\n"
        + stream
        + b"\nendstream endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def media_bytes(mime_type: str, seed: str) -> bytes:
    """Bytes that look like the given type; the same seed always gives the same bytes."""
    raw = seed.encode()
    if mime_type == "image/png" or (mime_type.startswith("image/") and "webp" not in mime_type):
        return _png(raw)
    if mime_type == "application/pdf":
        return _pdf(raw)
    if "webp" in mime_type:
        body = b"WEBPVP8 " + raw[:32]
        return b"RIFF" + struct.pack("<I", len(body)) + body
    if mime_type.startswith("audio/"):
        return b"OggS\x00\x02" + raw[:32].ljust(32, b"\x00")
    if mime_type.startswith("video/"):
        return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + raw[:32]
    return b"simulated file: " + raw
