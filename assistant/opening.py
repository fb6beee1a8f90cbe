"""The database as every command opens it: the store (store.py) with the backups beside it
(backup.py), once the forgets a kill interrupted are finished (erasure.py).

Erasure and backups are built on the store; this is where the three meet, so the store imports
neither (tests/test_layering.py checks that no module of assistant/ imports itself back).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from assistant import erasure
from assistant.backup import Backups
from assistant.store import Store


def open_store(path: str | Path) -> Store:
    """Open (or create) the database at ``path``, migrated, with what a forget left half done
    finished, and the daily backup taken when one is due."""
    path = Path(path)
    backups = Backups(path.parent / "backups")
    store = Store(path, backups)
    try:
        erasure.keep_ledger(store)
    except sqlite3.Error as exc:
        store.close()
        raise store.explain(exc) from exc
    backups.remove_strays()
    erasure.resume(store, backups)  # before a backup is taken: it must not keep what was forgotten
    if not store.damaged:  # a damaged database is not backed up: its copy would push a good backup out
        backups.maybe_daily(store.db.conn)
    return store
