"""Look and feel: Fusion with a light or dark palette, and a small style sheet for the chat."""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication

ACCENT = "#5b5bd6"


def wants_dark() -> bool:
    choice = os.environ.get("GLASSMIND_THEME", "").lower()
    if choice in ("dark", "light"):
        return choice == "dark"
    hints = QGuiApplication.styleHints()
    return hints.colorScheme() == Qt.ColorScheme.Dark


def apply_theme(app: QApplication, dark: bool | None = None) -> bool:
    dark = wants_dark() if dark is None else dark
    app.setStyle("Fusion")
    p = QPalette()
    if dark:
        colors = {
            QPalette.ColorRole.Window: "#1f2126",
            QPalette.ColorRole.WindowText: "#e6e6ea",
            QPalette.ColorRole.Base: "#17181c",
            QPalette.ColorRole.AlternateBase: "#22242a",
            QPalette.ColorRole.Text: "#e6e6ea",
            QPalette.ColorRole.Button: "#2a2d34",
            QPalette.ColorRole.ButtonText: "#e6e6ea",
            QPalette.ColorRole.ToolTipBase: "#2a2d34",
            QPalette.ColorRole.ToolTipText: "#e6e6ea",
            QPalette.ColorRole.Highlight: ACCENT,
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.Mid: "#3a3d45",
            QPalette.ColorRole.PlaceholderText: "#8b8d96",
            QPalette.ColorRole.Link: "#8f8fff",
        }
        disabled = "#7a7c85"
    else:
        colors = {
            QPalette.ColorRole.Window: "#f4f4f7",
            QPalette.ColorRole.WindowText: "#1d1d24",
            QPalette.ColorRole.Base: "#ffffff",
            QPalette.ColorRole.AlternateBase: "#f6f6fa",
            QPalette.ColorRole.Text: "#1d1d24",
            QPalette.ColorRole.Button: "#ffffff",
            QPalette.ColorRole.ButtonText: "#1d1d24",
            QPalette.ColorRole.ToolTipBase: "#ffffff",
            QPalette.ColorRole.ToolTipText: "#1d1d24",
            QPalette.ColorRole.Highlight: ACCENT,
            QPalette.ColorRole.HighlightedText: "#ffffff",
            QPalette.ColorRole.Mid: "#d5d5de",
            QPalette.ColorRole.PlaceholderText: "#8a8a96",
            QPalette.ColorRole.Link: ACCENT,
        }
        disabled = "#9a9aa6"
    for role, value in colors.items():
        p.setColor(role, QColor(value))
    for role in (QPalette.ColorRole.Text, QPalette.ColorRole.WindowText, QPalette.ColorRole.ButtonText):
        p.setColor(QPalette.ColorGroup.Disabled, role, QColor(disabled))
    app.setPalette(p)
    user_bg, bot_bg, border = ("#2c2f57", "#25272d", "#363944") if dark else ("#e9e9fb", "#ffffff", "#e1e1ea")
    app.setStyleSheet(
        f"""
        QLabel#panelTitle {{ font-size: 15px; font-weight: 600; }}
        QLabel#muted {{ color: {disabled}; }}
        QLabel#role {{ font-weight: 600; }}
        QLabel#banner {{ background: {'#5c2b29' if dark else '#fdecea'}; color: {'#ffd7d3' if dark else '#8a1c13'};
                         padding: 8px 14px; border-bottom: 1px solid {border}; }}
        QFrame#userCard {{ background: {user_bg}; border-radius: 10px; }}
        QFrame#assistantCard {{ background: {bot_bg}; border: 1px solid {border}; border-radius: 10px; }}
        QFrame[excluded="true"] {{ border: 1px dashed {disabled}; }}
        QWidget#chatInner {{ background: palette(base); }}
        QToolButton#cardAction {{ color: {disabled}; padding: 1px 6px; }}
        QToolButton#cardAction:hover {{ color: {ACCENT}; }}
        QPushButton {{ padding: 5px 12px; border-radius: 6px; border: 1px solid {border}; background: palette(button); }}
        QPushButton:hover {{ border-color: {ACCENT}; }}
        QPushButton:disabled {{ color: {disabled}; }}
        QPushButton#primary {{ background: {ACCENT}; color: white; border: none; font-weight: 600; }}
        QPlainTextEdit, QLineEdit, QTableView, QListView {{ border: 1px solid {border}; border-radius: 6px; }}
        QListView#conversations::item {{ padding: 7px 6px; border-radius: 6px; }}
        QListView#conversations::item:selected {{ background: {ACCENT}; color: white; }}
        QTabWidget::pane {{ border: none; }}
        QTabBar::tab {{ padding: 7px 14px; border: none; background: transparent; }}
        QTabBar::tab:selected {{ color: {ACCENT}; border-bottom: 2px solid {ACCENT}; }}
        QHeaderView::section {{ padding: 4px 6px; border: none; border-bottom: 1px solid {border};
                                background: palette(window); font-weight: 600; }}
        """
    )
    return dark
