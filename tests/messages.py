"""Messages written straight into a store, as the history a test starts from.

The app writes messages only inside a turn (assistant/app.py); tests that need a long or
particular history use the store's bulk insert, the path import and the benchmarks take.
"""

from __future__ import annotations

from typing import Any

from assistant.store import Message, Store, now_iso


def add_message(store: Store, conversation_id: int, role: str, content: str, **fields: Any) -> Message:
    (message_id,) = store.import_messages(
        conversation_id, [{"role": role, "content": content, "created": now_iso(), **fields}]
    )
    return store.message(message_id)
