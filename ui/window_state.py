"""The main window's placement and what it remembers between runs: size and position kept on the
screen it opens on, column widths, the memory panel shown or hidden, the theme, the open conversation.

``PlacedWindow`` is the main window's base: ui/main_window.py builds the widgets it names here.
"""

from __future__ import annotations

import contextlib

from PySide6.QtCore import QPoint, QRect, QSettings
from PySide6.QtGui import QAction, QActionGroup, QGuiApplication, QShowEvent
from PySide6.QtWidgets import QApplication, QMainWindow, QSplitter, QToolButton

from ui.memory_panel import MemoryPanel
from ui.theme import apply_theme

# Widths (px) below which a column stops shrinking: the chat stays readable at 1024x700.
SIDEBAR_MIN, CHAT_MIN, PANEL_MIN = 170, 400, 340
PANEL_DEFAULT = 440


class PlacedWindow(QMainWindow):
    """Restores, keeps on screen and saves the window's state (see the module's docstring)."""

    # Made by the main window before it calls _restore_state.
    ui_state: QSettings
    split: QSplitter
    panel: MemoryPanel
    panel_action: QAction
    panel_button: QToolButton
    theme_actions: QActionGroup
    conversation_id: int | None
    _restore_id: int | None
    _sized: bool
    _shown_once: bool

    def _restore_state(self) -> None:
        st = self.ui_state
        geometry = st.value("geometry")
        restored = False
        if geometry is not None:
            restored = bool(self.restoreGeometry(geometry))  # position, maximised
        size = st.value("size")
        if isinstance(size, list) and len(size) == 2 and not self.isMaximized():
            with contextlib.suppress(TypeError, ValueError):
                self.resize(int(size[0]), int(size[1]))
        self._fit_to_screen(centre=not restored)
        sizes = st.value("splitter")
        if isinstance(sizes, list) and len(sizes) == 3:
            try:
                self.split.setSizes([int(x) for x in sizes])
                self._sized = True
            except (TypeError, ValueError):
                pass
        self._set_panel_visible(str(st.value("panel_visible", "true")).lower() != "false")
        theme = str(st.value("theme", "system"))
        for action in self.theme_actions.actions():
            action.setChecked(action.data() == theme)
        app = QApplication.instance()
        if theme in ("light", "dark") and isinstance(app, QApplication):
            apply_theme(app, dark=theme == "dark")
        with contextlib.suppress(TypeError, ValueError):
            self._restore_id = int(st.value("conversation")) if st.value("conversation") is not None else None

    def _fit_to_screen(self, *, centre: bool = False) -> None:
        """Keep the window on the screen it opens on: no bigger than its free area (a size saved on a
        larger monitor, or the default on a small screen), and inside it; ``centre``: in its middle."""
        if self.isMaximized() or self.isFullScreen():
            return
        screen = QGuiApplication.screenAt(self.geometry().center()) or self.screen() or QGuiApplication.primaryScreen()
        if screen is None:
            return
        area: QRect = screen.availableGeometry()
        # The frame (title bar, borders) is known once the window is shown; before, it counts as none.
        frame = self.frameGeometry()
        extra_w, extra_h = frame.width() - self.width(), frame.height() - self.height()
        width = max(self.minimumWidth(), min(self.width(), area.width() - extra_w))
        height = max(self.minimumHeight(), min(self.height(), area.height() - extra_h))
        if (width, height) != (self.width(), self.height()):
            self.resize(width, height)
        if centre:
            left = area.left() + (area.width() - width - extra_w) // 2
            top = area.top() + (area.height() - height - extra_h) // 2
        else:
            left = min(max(frame.left(), area.left()), area.left() + area.width() - width - extra_w)
            top = min(max(frame.top(), area.top()), area.top() + area.height() - height - extra_h)
        position = QPoint(max(area.left(), left), max(area.top(), top))
        if position != frame.topLeft():
            self.move(position)

    def _save_state(self) -> None:
        st = self.ui_state
        st.setValue("geometry", self.saveGeometry())
        st.setValue("size", [str(self.width()), str(self.height())])
        st.setValue("splitter", [str(x) for x in self.split.sizes()])
        st.setValue("panel_visible", "true" if self.panel_action.isChecked() else "false")
        if self.conversation_id is None:
            st.remove("conversation")
        else:
            st.setValue("conversation", self.conversation_id)
        st.sync()

    def _set_panel_visible(self, visible: bool) -> None:
        for toggle in (self.panel_action, self.panel_button):
            toggle.blockSignals(True)
            toggle.setChecked(visible)
            toggle.blockSignals(False)
        self.panel.setVisible(visible)

    def _on_panel_action_toggled(self, visible: bool) -> None:
        self._set_panel_visible(visible)

    def _on_theme_triggered(self, action: QAction) -> None:
        key = str(action.data())
        self.ui_state.setValue("theme", key)
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, dark=None if key == "system" else key == "dark")

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            if self.frameGeometry().size() != self.size():
                self._fit_to_screen()  # again, now that the frame around the window is known
        if not self._sized:
            self._sized = True
            self.fit_columns()

    def fit_columns(self) -> None:
        """Default widths: a narrow sidebar, the panel at its usual width, the rest for the chat."""
        width = self.split.width() or self.width()
        sidebar = max(SIDEBAR_MIN, min(230, int(width * 0.17)))
        # Wide enough for all of its tabs (a narrow panel would scroll some of them out of sight).
        tabs = self.panel.tabBar().sizeHint().width() + 8
        room = width - sidebar - CHAT_MIN - 2 * self.split.handleWidth()
        panel = max(PANEL_MIN, min(max(min(PANEL_DEFAULT, int(width * 0.34)), tabs), room))
        self.split.setSizes([sidebar, max(CHAT_MIN, width - sidebar - panel), panel])
