"""Text that comes in from outside (argv, stdin, an import file) made safe to store."""

from __future__ import annotations

import re
import unicodedata

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


# Characters that show nothing though Unicode does not call them spaces: zero-width and format
# characters (category Cf: U+200B, U+2060, U+FEFF, bidi marks) and the fillers that render blank.
_INVISIBLE_LETTERS = frozenset("\u115f\u1160\u3164\uffa0\u2800\u180e")


def is_blank(text: str) -> bool:
    """True when ``text`` shows nothing: only whitespace and invisible characters (a message of
    zero-width spaces is as empty as one of spaces)."""
    return all(ch.isspace() or ch in _INVISIBLE_LETTERS or unicodedata.category(ch) == "Cf" for ch in text)


# Shown on a terminal, these change what other text looks like (a bidi override reverses the rest
# of the line; a control character moves the cursor) or hide text: printed as \u escapes instead.
_HIDDEN = re.compile(
    "[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200b-\u200c\u200e-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f]"
)


def shown(text: str) -> str:
    """``text`` safe to print on a terminal: control, bidi and zero-width characters as ``\\uXXXX``
    escapes (the joiner inside emoji, U+200D, is kept)."""
    if text.isprintable() or not _HIDDEN.search(text):
        return text
    return _HIDDEN.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"
