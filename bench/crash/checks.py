"""The check after each trial ("the next start") and the evidence of what it finds: lost or
unindexed messages, index divergence, damaged databases, duplicate or partial imports, effects
missing after a success, and forgotten text left in any file of the data dir."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.crash.state import Abort

if TYPE_CHECKING:
    from bench.crash.harness import Harness


def check(h: Harness) -> None:
    """Play the next start (open the data dir, finish what a kill left) and check every promise."""
    import numpy as np

    from assistant.transfer import conversation_key

    st = h.state
    try:
        app = h.app()
    except Exception as exc:  # the next start failed: the data dir is broken
        h.fail("integrity_failures", (h.trial, "open"), detail=f"the next start failed: {exc}")
        raise Abort(str(exc)) from exc
    try:
        for notice in app.store.notices:
            st.notices.append(f"trial {h.trial}: {notice}")
            h.progress(f"  notice: {notice}")
        _integrity(h, app.store.path)
        app.open_memory()

        messages = {r["id"]: r for r in app.store.query("SELECT id, conversation_id, role, content FROM messages")}
        memories = {r["id"]: r for r in app.store.query("SELECT id, kind, text, message_id FROM memories")}
        key = app.memories.model_key
        vectors = {
            r["memory_id"] for r in app.store.query("SELECT memory_id FROM memory_vectors WHERE model = ?", [key])
        }
        all_vectors = {r["memory_id"] for r in app.store.query("SELECT memory_id FROM memory_vectors")}
        index_ids_arr = app.memories.index.ids()
        index_ids = {int(i) for i in index_ids_arr}

        # lost messages
        for mid, (content, origin) in sorted(st.expected.items()):
            if mid in st.removed:
                continue
            row = messages.get(mid)
            if row is None:
                h.fail("lost_messages", ("id", mid), message_id=mid, expected=content, origin=origin)
            elif content is not None and row["content"] != content:
                h.fail(
                    "lost_messages", ("id", mid), message_id=mid, expected=content, found=row["content"], origin=origin
                )
        contents = Counter(r["content"] for r in messages.values())
        if h.trial_info.get("op") == "cli_turn":
            h.trial_info["effect"] = "stored" if contents.get(h.trial_info.get("text")) else "none"
        for text, origin in st.pending_texts:
            if not contents.get(text) and text not in st.removed_texts:
                h.fail("lost_messages", ("text", text), text=text, origin=origin)
        st.pending_texts.clear()
        for mid, row in messages.items():
            if mid not in st.expected:
                st.expected[mid] = (row["content"], f"seen at check {h.trial}")

        # unindexed
        by_message: dict[int, list[int]] = {}
        for mem in memories.values():
            if mem["kind"] == "message" and mem["message_id"] is not None:
                by_message.setdefault(mem["message_id"], []).append(mem["id"])
        for mid, row in messages.items():
            if not (row["content"] or "").strip():
                continue
            mems = by_message.get(mid, [])
            if len(mems) != 1:
                h.fail(
                    "unindexed",
                    ("message", mid),
                    message_id=mid,
                    memory_ids=mems,
                    detail="no memory row" if not mems else "several memory rows",
                )
                continue
            _check_memory(h, app, memories[mems[0]], vectors, index_ids, message_id=mid)
        for mem in memories.values():
            if mem["kind"] != "message" or mem["message_id"] not in messages:
                if mem["kind"] == "message":
                    h.fail(
                        "unindexed",
                        ("stale", mem["id"]),
                        memory_id=mem["id"],
                        detail="a message memory whose message is gone",
                    )
                _check_memory(h, app, mem, vectors, index_ids)

        # index divergence
        dups = len(index_ids_arr) - len(index_ids)
        if dups:
            h.fail("index_divergent", ("dup", h.trial), detail=f"{dups} duplicate ids in the FAISS index")
        for i in sorted(index_ids - vectors):
            h.fail(
                "index_divergent",
                ("extra", i),
                memory_id=i,
                detail="in the FAISS index without a vector",
                memory_exists=i in memories,
            )
        for i in sorted(vectors - index_ids):
            h.fail("index_divergent", ("missing", i), memory_id=i, detail="vector stored but not in the FAISS index")
        for i in sorted(all_vectors - set(memories)):
            h.fail("index_divergent", ("orphan", i), memory_id=i, detail="a vector row without its memory")
        if index_ids:
            q = h.embedder.encode(["what is the code word for the locker"])[0]
            ids, _ = app.memories.index.search(np.asarray(q, dtype=np.float32), len(index_ids_arr))
            for i in sorted({int(x) for x in ids} - set(memories)):
                h.fail("index_divergent", ("dense", i), memory_id=i, detail="dense search returned a forgotten id")

        # duplicate and partial imports
        convs = app.store.query("SELECT id, created, import_key FROM conversations")
        msgs_by_conv: dict[int, list[tuple[str, str, str]]] = {}
        for r in app.store.query(
            "SELECT conversation_id, role, content, created FROM messages WHERE alternative_of IS NULL "
            "ORDER BY conversation_id, id"
        ):
            msgs_by_conv.setdefault(r["conversation_id"], []).append((r["role"], r["content"], r["created"]))
        by_import = Counter(c["import_key"] for c in convs if c["import_key"])
        for k, n in by_import.items():
            if n > 1:
                h.fail("duplicate_imports", ("key", k, n), import_key=k, copies=n)
        prints = Counter(
            conversation_key(c["created"], msgs_by_conv[c["id"]]) for c in convs if msgs_by_conv.get(c["id"])
        )
        for k, n in prints.items():
            if n > 1:
                h.fail("duplicate_imports", ("print", k, n), fingerprint=k, copies=n)
        notes = Counter(
            (r["text"], r["created"]) for r in app.store.query("SELECT text, created FROM memories WHERE kind = 'note'")
        )
        for (text, _created), n in notes.items():
            if n > 1 and text.startswith("impnote"):
                h.fail("duplicate_imports", ("note", text, n), note=text, copies=n)
        before = set(st.import_keys_seen)
        for c in convs:
            k = c["import_key"]
            if k and k not in st.import_keys_seen:
                st.import_keys_seen.add(k)
                want = h.import_sizes.get(k)
                have = len(msgs_by_conv.get(c["id"], []))
                if want is not None and have != want:
                    h.fail("partial_imports", ("conv", c["id"]), conversation_id=c["id"], messages=have, expected=want)
        if h.trial_info.get("op") == "import":
            keys = h.import_keys
            if h.trial_info.get("rc") == 0 and not keys <= set(by_import):
                h.fail("unapplied", (h.trial, "import"), detail="import exited 0 but its conversations are missing")
            h.trial_info["effect"] = "already" if keys <= before else "imported" if keys <= set(by_import) else "none"

        _check_suggestions(h, app)

        # secrets: which forgets and edits have taken effect
        _update_secrets(h, app)
    finally:
        app.close()
    _scan_files(h)


def _check_suggestions(h: Harness, app: Any) -> None:
    """Each approved suggestion made one note, and its status says so: a killed approve leaves both or
    neither, so approving it again never makes a second note."""
    info = h.trial_info
    for sid, text in h.state.suggestions.items():
        notes = [r["id"] for r in app.store.query("SELECT id FROM memories WHERE kind = 'note' AND text = ?", [text])]
        if len(notes) > 1:
            h.fail("duplicate_notes", ("notes", sid), suggestion=sid, notes=notes, text=text)
        rows = app.store.query("SELECT status, note_id FROM suggestions WHERE id = ?", [sid])
        if not rows:
            continue  # its message was erased, and the suggestion with it (an approved note stays)
        status, note_id = rows[0]["status"], rows[0]["note_id"]
        if status == "pending" and notes:
            h.fail("duplicate_notes", ("pending", sid), suggestion=sid, notes=notes,
                   detail="a note was made but the suggestion is still pending: approving it again makes another")
        if status == "approved" and note_id not in notes:
            h.fail("unapplied", ("approved", sid), suggestion=sid, note_id=note_id, detail="approved, note missing")
        if info.get("op") == "approve" and info.get("suggestion") == sid:
            info["effect"] = "approved" if status == "approved" else "none"
            if info.get("rc") == 0 and status != "approved":
                h.fail("unapplied", (h.trial, "approve"), suggestion=sid, detail="approve exited 0, still pending")


def _integrity(h: Harness, path: Path) -> None:
    """SQLite's and FTS5's own integrity checks, on a connection of their own."""
    import sqlite3

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if result != ["ok"]:
            h.fail("integrity_failures", (h.trial, "sqlite"), detail=result[:10])
        try:
            conn.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
        except sqlite3.Error as exc:
            h.fail("integrity_failures", (h.trial, "fts"), detail=f"FTS5 integrity-check: {exc}")
    finally:
        conn.close()


def _check_memory(
    h: Harness, app: Any, mem: dict[str, Any], vectors: set[int], index_ids: set[int], message_id: int | None = None
) -> None:
    mid = mem["id"]
    where = {"memory_id": mid, "kind": mem["kind"], "message_id": message_id}
    if mid not in vectors:
        h.fail("unindexed", ("vector", mid), **where, detail="no vector")
    elif mid not in index_ids:
        h.fail("unindexed", ("faiss", mid), **where, detail="not in the FAISS index")
    words = sorted(set(_words(mem["text"])), key=len, reverse=True)
    if words:
        hit = app.store.query(
            "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? AND rowid = ?", ['"' + words[0] + '"', mid]
        )
        if not hit:
            h.fail("unindexed", ("fts", mid), **where, word=words[0], detail="keyword search does not find it")


def _present(h: Harness, app: Any, needles: Sequence[str]) -> bool:
    for needle in needles:
        like = f"%{needle}%"
        if app.store.query(
            "SELECT 1 FROM memories WHERE text LIKE ? UNION ALL SELECT 1 FROM messages WHERE content LIKE ? LIMIT 1",
            [like, like],
        ):
            return True
    return False


def _update_secrets(h: Harness, app: Any) -> None:
    for s in h.state.secrets:
        if s.status == "pending":
            continue
        if s.status == "editing":
            new = s.edited_to
            assert new is not None
            note = app.memories.get_many([s.note_id]).get(s.note_id)
            applied = note is not None and note.text == new.text
            if s.changed_in == h.trial:
                h.trial_info["effect"] = "edited" if applied else "none"
            if applied:
                s.status, new.status = "edited", "live"
            else:
                s.status, new.status = "live", "dropped"
                if h.trial_info.get("op") == "edit" and h.trial_info.get("rc") == 0:
                    h.fail("unapplied", (h.trial, "edit"), secret=s.sid, detail="edit exited 0, new text absent")
        if s.status == "forgetting":
            s.status = "forgotten"
            if s.changed_in == h.trial:
                h.trial_info["effect"] = "none" if _present(h, app, s.search_needles()) else "forgotten"
        if s.status in ("forgotten", "edited"):
            if _present(h, app, s.search_needles()):
                if s.status == "forgotten":
                    s.status = "live"  # killed before it took effect: it may be forgotten again
                    if h.trial_info.get("op") == "forget" and h.trial_info.get("rc") == 0:
                        h.fail(
                            "unapplied",
                            (h.trial, "forget"),
                            secret=s.sid,
                            detail="forget exited 0 but a memory still holds the secret",
                        )
                continue  # an edit whose old text survives in a reply: not erased, nothing to check
            s.status, s.erased_in = "erased", h.trial
            h.extras["secrets_erased"] += 1


def _scan_files(h: Harness) -> None:
    erased = [s for s in h.state.secrets if s.status == "erased"]
    if not erased:
        return
    needles = {s.sid: [n.encode("utf-8") for n in s.needles()] for s in erased}
    for path in sorted(p for p in h.data_dir.rglob("*") if p.is_file()):
        rel = str(path.relative_to(h.data_dir))
        try:
            stat = path.stat()
            sig = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
            old_sig, done = h.state.scanned.get(rel, (None, set()))
            todo = [s for s in erased if sig != old_sig or s.sid not in done]
            if not todo:
                continue
            data = path.read_bytes()
        except OSError:
            continue
        for s in todo:
            found = [n.decode() for n in needles[s.sid] if n in data]
            if found and ("leaked_files", (s.sid, rel)) not in h.state.problems:
                where = sorted({data.find(n) // 4096 + 1 for n in needles[s.sid] if n in data})
                evidence = h.work_dir / "evidence" / f"trial{h.trial}-secret{s.sid}-{path.name}"
                evidence.parent.mkdir(exist_ok=True)
                evidence.write_bytes(data)  # the file as found, for a developer to open
                h.fail(
                    "leaked_files",
                    (s.sid, rel),
                    file=rel,
                    secret=s.sid,
                    found=found,
                    pages=where,
                    secret_text=s.text,
                    secret_trial=s.trial,
                    via=s.via,
                    changed_in=s.changed_in,
                    erased_in=s.erased_in,
                    in_prompt=s.in_prompt,
                    in_backup=s.in_backup,
                    evidence=str(evidence),
                )
        h.state.scanned[rel] = (sig, (done if sig == old_sig else set()) | {s.sid for s in todo})


def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[A-Za-z0-9]+", text or "") if len(w) >= 2]
