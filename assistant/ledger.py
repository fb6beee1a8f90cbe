"""The erasure ledger: which rows were erased, in a file beside the database and outside every copy of it.

A restore puts back a database (a backup) made before some forgets and edits. Rewriting the backups
at each forget is not enough: a forget killed between its commit and that rewrite, then a restore,
brought the forgotten text back for good. The ledger says what was erased, so a restore erases it
again in the database it puts back and in every backup (``erasure.settle``).

It lives at ``<database>.erased`` (``glassmind.db.erased`` in the data dir): beside the database,
so it is no part of any copy a backup takes, and kept by a restore. It holds row ids only -- never
text and never a hash of text (a hash of a short secret can be guessed by trying them all). An id
names one row for good: ``repository.new_id`` gives each new row an id above the table's watermark
(``id_watermark``, the highest id the table ever had, kept in the same transaction), and every open
and every restore raise the watermark above the ledger's ids, so no id is given twice, even to a
fresh database in the same data dir.

One JSON object a line, appended and flushed to disk:
  {"memories": [[lo, hi], ...], "messages": [...], "conversations": [...]}   erased ids, as ranges,
      written before the forget commits (a kill in between leaves ids the user asked to erase);
  {"edited": [[memory_id, message_id or null, "2026-12-03T18:00:00+00:00"]]}   an edit once it
      committed: a copy whose memory was last changed before that moment holds the old text.
A line torn by a kill is skipped: it was written before its forget committed.
"""

from __future__ import annotations

import bisect
import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)

TABLES = ("memories", "messages", "conversations")


def ranges(ids: Iterable[int]) -> list[list[int]]:
    """Sorted ids as [lo, hi] ranges (a forgotten conversation is one range, not a thousand ids)."""
    out: list[list[int]] = []
    for i in sorted(set(int(x) for x in ids)):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


@dataclass
class Erased:
    """What the ledger says: erased id ranges per table (merged, sorted) and the edits."""

    spans: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    edits: list[tuple[int, int | None, str]] = field(default_factory=list)

    def has(self, table: str, row_id: int) -> bool:
        spans = self.spans.get(table, [])
        at = bisect.bisect_right(spans, (row_id, float("inf"))) - 1
        return at >= 0 and spans[at][0] <= row_id <= spans[at][1]

    def high(self, table: str) -> int:
        spans = self.spans.get(table, [])
        return spans[-1][1] if spans else 0

    def __bool__(self) -> bool:
        return any(self.spans.values()) or bool(self.edits)


class Ledger:
    """The ledger file of one database."""

    def __init__(self, db_path: Path) -> None:
        self.path = db_path.with_name(db_path.name + ".erased")

    def exists(self) -> bool:
        return self.path.is_file()

    def record(self, ids: Mapping[str, Iterable[int]]) -> None:
        """Append erased ids (table -> ids); on disk when this returns. Nothing to add: the file is
        still created, so that its absence means a database older than the ledger."""
        entry = {t: ranges(v) for t, v in ids.items() if t in TABLES}
        self._append({t: r for t, r in entry.items() if r})

    def record_edit(self, memory_id: int, message_id: int | None, stamp: str) -> None:
        self._append({"edited": [[int(memory_id), message_id, stamp]]})

    def _append(self, entry: dict[str, object]) -> None:
        line = (json.dumps(entry, separators=(",", ":")) + "\n").encode() if entry else b""
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if line:
                os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> Erased:
        try:
            text = self.path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return Erased()
        spans: dict[str, list[tuple[int, int]]] = {t: [] for t in TABLES}
        edits: list[tuple[int, int | None, str]] = []
        for line in text.splitlines():
            try:
                entry = json.loads(line)
                for table in TABLES:
                    spans[table] += [(int(lo), int(hi)) for lo, hi in entry.get(table, [])]
                edits += [(int(m), None if g is None else int(g), str(s)) for m, g, s in entry.get("edited", [])]
            except (ValueError, TypeError, AttributeError):
                log.info("skipped a torn line of %s", self.path)
        return Erased({t: _merged(s) for t, s in spans.items()}, edits)


def _merged(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    return out


@dataclass(frozen=True)
class Erasure:
    """What one forget removed: memory ids and message ids (both closed over each other)."""

    memory_ids: tuple[int, ...]
    message_ids: tuple[int, ...]

    @property
    def sources(self) -> set[str]:
        return {f"memory:{i}" for i in self.memory_ids} | {f"message:{i}" for i in self.message_ids}
