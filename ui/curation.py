"""The questions the memory panel asks before changing a memory: forget, edit, add.

Each says what else changes (a memory made from a chat message *is* that message; the tabs read
the impacts on the reader thread first) and returns what the user chose; the tabs turn the answer
into an operation for the engine.
"""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox, QWidget

from assistant.impact import Impact, edit_warning, forget_warning
from assistant.memory import Memory
from assistant.operations import Exclude, Forget
from ui.dialogs import ask_text


def ask_forget(parent: QWidget, ids: list[int], found: list[Impact]) -> Forget | Exclude | None:
    """Forget, Exclude (keep it, leave it out of what the model reads) or None (cancelled)."""
    in_chat = any(i.message_id is not None for i in found)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle("Forget for good?")
    box.setText(f"Erase {len(ids)} memor{'y' if len(ids) == 1 else 'ies'} for good?")
    box.setInformativeText(
        f"{forget_warning(found)} The text is removed from the database, the index, the records of past "
        "turns and the backups. This cannot be undone."
        + ("\n\nExclude instead keeps everything, but leaves it out of what the model reads." if in_chat else "")
    )
    forget = box.addButton("Forget", QMessageBox.ButtonRole.DestructiveRole)
    exclude = box.addButton("Exclude instead", QMessageBox.ButtonRole.ActionRole) if in_chat else None
    box.addButton(QMessageBox.StandardButton.Cancel)
    box.setDefaultButton(QMessageBox.StandardButton.Cancel)
    box.exec()
    if box.clickedButton() is forget:
        return Forget(tuple(ids))
    if exclude is not None and box.clickedButton() is exclude:
        return Exclude(tuple(ids))
    return None


def ask_edit(parent: QWidget, memory: Memory, found: list[Impact]) -> str | None:
    """The new text, or None when cancelled or unchanged."""
    warning = edit_warning(found[0]) if found else ""
    text, ok = ask_text(parent, "Edit memory", f"Memory {memory.id}. {warning}", memory.text)
    return text.strip() if ok and text.strip() and text.strip() != memory.text else None


def ask_new_note(parent: QWidget) -> str | None:
    text, ok = ask_text(
        parent, "Add a memory",
        "What should Glassmind remember? A note is kept apart from the conversations and can be pinned.",
    )
    return text.strip() if ok and text.strip() else None
