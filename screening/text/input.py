"""Reading text safely: size limit first, then UTF-8 (or UTF-16 with a byte-order mark).

Platforms send model outputs and rights holders send works as files, stdin or JSON; each is
checked before anything is stored, and a bad one is rejected with the reason and the place.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from models.text_normalize import NormalizedText, normalize
from screening.errors import InvalidInputError
from screening.files import read_file_limited
from screening.registry.blobs import BlobStore
from screening.registry.repository import WorkRecord, check_no_surrogates

DEFAULT_MAX_TEXT_BYTES = 10 * 1024 * 1024


def decode_text(data: bytes, max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """Text from bytes, or InvalidInputError saying exactly why not."""
    if len(data) > max_bytes:
        raise InvalidInputError(f"text is {len(data)} bytes; the limit is {max_bytes} "
                                "(setting IPSCREEN_MAX_TEXT_BYTES)")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encoding, body = "utf-16", data
    else:
        encoding, body = "utf-8-sig", data
    try:
        text = body.decode(encoding)
    except UnicodeDecodeError as exc:
        raise InvalidInputError(
            f"not UTF-8 text: invalid byte 0x{body[exc.start]:02x} at offset {exc.start} "
            "(convert the file to UTF-8)") from None
    return check_text(text)


def check_text(text: str, max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    """The same checks for text that arrives already decoded (JSON)."""
    if len(text) > max_bytes:
        raise InvalidInputError(f"text is {len(text)} characters; the limit is {max_bytes}")
    if "\x00" in text:
        raise InvalidInputError("text contains NUL characters: is it a binary file?")
    check_no_surrogates(text, "text")
    if not text.strip():
        raise InvalidInputError("empty text")
    return text


def read_text_file(path: Path, max_bytes: int = DEFAULT_MAX_TEXT_BYTES) -> str:
    try:
        if path.is_file() and (size := path.stat().st_size) > max_bytes:
            raise InvalidInputError(f"{path}: {size} bytes; the limit is {max_bytes} "
                                    "(setting IPSCREEN_MAX_TEXT_BYTES)")
    except OSError as exc:
        raise InvalidInputError(f"{path}: cannot read ({exc.strerror})") from None
    data = read_file_limited(path, max_bytes, "a text",
                             hint="to screen a pipe, send it to standard input as -")
    try:
        return decode_text(data, max_bytes)
    except InvalidInputError as exc:
        raise InvalidInputError(f"{path}: {exc}") from None


def registered_text(blobs: BlobStore, work: WorkRecord, max_bytes: int) -> NormalizedText:
    """A registered text work's content, normalised: what its index entries were built from
    and what its evidence offsets point into."""
    return normalize(decode_text(blobs.get(work.content_sha256), max_bytes))
