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


# Characters that change what text says without being seen: zero-width spaces and joiners, the word
# joiner and invisible operators, bidi embeddings, overrides and isolates (which can show "0000" for
# "0000" reversed, or hide a clause), the BOM, and Unicode tag characters (ASCII smuggled out of sight).
_INVISIBLE = re.compile(
    "[\u200b\u2060-\u2064\u206a-\u206f\ufeff\u202a-\u202e\u2066-\u2069\u200e\u200f\U000e0000-\U000e007f]"
)
# Zero-width (non-)joiners carry meaning between two letters of some scripts (Persian, Indic) and in
# emoji sequences (👨‍👩‍👧); anywhere else they only hide a break in a word.
_JOINER = re.compile("[\u200c\u200d]")


def strip_invisible(text: str) -> str:
    """``text`` without invisible characters that could hide or reorder what a note says."""
    text = _INVISIBLE.sub("", text)
    if not _JOINER.search(text):
        return text
    out = []
    for i, ch in enumerate(text):
        if ch in "\u200c\u200d":
            before = text[i - 1] if i else ""
            after = text[i + 1] if i + 1 < len(text) else ""
            if not (before and after and ord(before) > 0x7F and ord(after) > 0x7F):
                continue
        out.append(ch)
    return "".join(out)
