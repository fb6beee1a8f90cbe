"""Text that comes in from outside (argv, stdin, an import file) made safe to store."""

from __future__ import annotations

import re

# Lone surrogates: U+DC80..U+DCFF are bytes that were not UTF-8 (Python's surrogateescape,
# as on argv); any other is a broken UTF-16 pair (e.g. "\ud800" in a JSON file).
_SURROGATES = re.compile("[\ud800-\udfff]+")


def _repair(match: re.Match[str]) -> str:
    run = match.group()
    out: list[str] = []
    escaped = bytearray()
    for ch in run:
        if "\udc80" <= ch <= "\udcff":
            escaped.append(ord(ch) - 0xDC00)
            continue
        if escaped:
            out.append(escaped.decode("utf-8", errors="replace"))
            escaped.clear()
        out.append("\ufffd")
    if escaped:
        out.append(escaped.decode("utf-8", errors="replace"))
    return "".join(out)


def clean_input(text: str) -> str:
    """``text`` as valid Unicode: undecodable bytes and lone surrogates become U+FFFD.

    SQLite (and every encoder) refuses lone surrogates, so a message holding one would be
    lost when stored; with this it is stored with a replacement character instead.
    """
    if not _SURROGATES.search(text):
        return text
    return _SURROGATES.sub(_repair, text)


def decode_input(data: bytes) -> str:
    """Bytes read from stdin or a file as text: UTF-8, a leading BOM dropped, bad bytes as U+FFFD."""
    text = data.decode("utf-8", errors="replace")
    return text[1:] if text.startswith("\ufeff") else text
