"""The Retrieved tab says "Nothing relevant in memory" when the relevance floor let nothing through
(issue 22), and lists the candidates it left out, greyed, with their reason."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from PySide6.QtCore import Qt

from assistant.context import WindowItem, WindowView
from assistant.kinds import ItemState
from assistant.retrieval import BELOW_FLOOR
from ui.retrieved_tab import NOTHING_RELEVANT, RetrievedTab

if TYPE_CHECKING:
    from pytestqt.qtbot import QtBot


def _item(state: ItemState, text: str) -> WindowItem:
    return WindowItem(
        "memory", text, 12, state=state, reason=f"{BELOW_FLOOR}: similar 0.21" if state == "below_floor" else "x",
        source="memory:3", role="user", scores={"dense": 0.21, "keyword": None, "fused": 0.05, "via": "search"},
    )


def test_nothing_relevant_is_said_and_the_left_out_are_greyed(qtbot: QtBot) -> None:
    tab = RetrievedTab(cast(Any, None))
    qtbot.addWidget(tab)
    tab.show_window(WindowView(items=(_item(ItemState.BELOW_FLOOR, "[1 May 2023] user: Hi there!"),)), "Next turn")
    assert NOTHING_RELEVANT in tab.label.text() and BELOW_FLOOR in tab.label.text()
    assert tab.model.rowCount() == 1 and tab.model.included_count() == 0
    index = tab.model.index(0, 0)
    assert tab.model.data(index, Qt.ItemDataRole.ForegroundRole) is not None  # greyed
    assert BELOW_FLOOR in tab.model.data(index, Qt.ItemDataRole.ToolTipRole)

    tab.show_window(WindowView(items=(_item(ItemState.INCLUDED, "[1 May 2023] user: My cat is Pixel."),)), "Next turn")
    assert NOTHING_RELEVANT not in tab.label.text() and "1 memory" in tab.label.text()
