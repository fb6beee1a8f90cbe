"""Curation as the memory panel's three tabs do it (Context, Retrieved, Memories): one flow.

A change that needs the user's word (forget, edit) first reads what else changes on the reader
thread (a memory made from a chat message *is* that message), then asks, and only then sends its
command; pin, exclude and include are sent at once. The questions are the functions below.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtWidgets import QMessageBox, QWidget

from assistant.impact import Impact, edit_warning, forget_warning
from assistant.memory import Memory
from assistant.operations import AddNote, Curation, EditMemory, Exclude, ExcludeMessage, Forget, Pin
from ui.dialogs import ask_text

if TYPE_CHECKING:
    from ui.reader import Reads


class CurationFlow:
    """Pin, exclude, edit, forget and add for one tab: ``send`` gets each command the user chose
    (the tab's ``operation`` signal); ``parent`` is where the questions open."""

    def __init__(self, parent: QWidget, reads: Reads, send: Callable[[Curation], None]) -> None:
        self._parent = parent
        self._reads = reads
        self._send = send

    def pin(self, ids: Sequence[int], pinned: bool = True) -> None:
        if ids:
            self._send(Pin(tuple(ids), pinned))

    def exclude(self, ids: Sequence[int], excluded: bool = True) -> None:
        if ids:
            self._send(Exclude(tuple(ids), excluded))

    def exclude_message(self, message_id: int, excluded: bool = True) -> None:
        self._send(ExcludeMessage(message_id, excluded))

    def add(self) -> None:
        text = ask_new_note(self._parent)
        if text is not None:
            self._send(AddNote(text))

    def edit(self, memory_id: int) -> None:
        """Read the memory as it is now and what else its edit changes, ask for the new text, send it."""
        self._reads.memory(memory_id, self._on_reads_memory)

    def _on_reads_memory(self, memory: Memory | None) -> None:
        if memory is not None:  # None: forgotten meanwhile
            self._reads.impacts([memory.id], lambda found: self._on_reads_edit_impacts(memory, found))

    def _on_reads_edit_impacts(self, memory: Memory, found: list[Impact]) -> None:
        text = ask_edit(self._parent, memory, found)
        if text is not None:
            self._send(EditMemory(memory.id, text))

    def forget(self, ids: Sequence[int]) -> None:
        """Read what else forgetting changes, ask (forget, or exclude instead), send the answer."""
        if ids:
            wanted = list(ids)
            self._reads.impacts(wanted, lambda found: self._on_reads_forget_impacts(wanted, found))

    def _on_reads_forget_impacts(self, ids: list[int], found: list[Impact]) -> None:
        choice = ask_forget(self._parent, ids, found)
        if choice is not None:
            self._send(choice)


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
