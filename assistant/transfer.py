"""Export and import conversations and notes as JSON: the user's explicit act, nothing else leaves."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from assistant.app import Assistant
from models.errors import InvalidInputError

FORMAT = "glassmind-export"
VERSION = 1


def export_data(app: Assistant) -> dict[str, Any]:
    """Every conversation with its messages, and every note with its flags."""
    conversations = []
    for conv in reversed(app.store.conversations()):
        conversations.append(
            {
                "title": conv.title,
                "created": conv.created,
                "messages": [
                    {"role": m.role, "content": m.content, "created": m.created, "status": m.status, "excluded": bool(m.excluded)}
                    for m in app.store.messages(conv.id)
                ],
            }
        )
    notes = [
        {"text": m.text, "created": m.created, "pinned": m.pinned, "excluded": m.excluded, "source": m.source}
        for m in app.memories.list(kind="note", sort="oldest")
    ]
    return {"format": FORMAT, "version": VERSION, "conversations": conversations, "notes": notes}


def import_data(app: Assistant, data: Any) -> tuple[int, int, int]:
    """Add what an export holds (existing data is kept); returns conversations, messages, notes added."""
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InvalidInputError("That file is not a Glassmind export: nothing was imported.")
    if data.get("version") != VERSION:
        raise InvalidInputError(f"That export has version {data.get('version')}; this Glassmind reads version {VERSION}.")
    try:
        conversations = [
            (str(c["title"]), [(str(m["role"]), str(m["content"]), str(m["created"]), m) for m in c["messages"]])
            for c in data.get("conversations", [])
        ]
        notes = [(str(n["text"]), n) for n in data.get("notes", [])]
    except (KeyError, TypeError) as exc:
        raise InvalidInputError(f"That export is damaged (missing {exc}): nothing was imported.") from exc
    app.open_memory()
    n_messages = 0
    for title, messages in conversations:
        conv = app.store.create_conversation(title)
        rows = [
            {"role": role, "content": content, "created": created, "status": m.get("status", "ok"), "excluded": int(bool(m.get("excluded")))}
            for role, content, created, m in messages
        ]
        app.store.import_messages(conv.id, rows)
        app._index(app.store.messages(conv.id))
        n_messages += len(rows)
    if notes:
        app.memories.add_many(
            [
                {
                    "text": text,
                    "kind": "note",
                    "source": n.get("source") or "import",
                    "created": n.get("created"),
                    "pinned": bool(n.get("pinned")),
                    "excluded": bool(n.get("excluded")),
                }
                for text, n in notes
            ]
        )
    app.memories.flush()
    return len(conversations), n_messages, len(notes)


def read_export(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidInputError(f"Could not read {path}: {exc.strerror or exc}.") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{path} is not valid JSON, so it cannot be a Glassmind export.") from exc
