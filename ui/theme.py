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
    user_bg, bot_bg, border = ("#2f3160", "#26282e", "#393c47") if dark else ("#e8e8fb", "#ffffff", "#dedee8")
    sidebar = "#1a1b20" if dark else "#ececf2"
    selected = "#8f8fff" if dark else ACCENT
    app.setStyleSheet(
        f"""
        QLabel#panelTitle {{ font-size: 15px; font-weight: 600; }}
        QLabel#muted {{ color: {disabled}; }}
        QLabel#role {{ font-weight: 600; }}
        QLabel#messageBody {{ padding: 2px 0; }}
        QLabel#banner {{ background: {'#5c2b29' if dark else '#fdecea'}; color: {'#ffd7d3' if dark else '#8a1c13'};
                         padding: 8px 14px; border-bottom: 1px solid {border}; }}
        QFrame#userCard {{ background: {user_bg}; border: 1px solid {user_bg}; border-radius: 12px; }}
        QFrame#assistantCard {{ background: {bot_bg}; border: 1px solid {border}; border-radius: 12px; }}
        QLabel#warning {{ color: {'#f0b35a' if dark else '#8a5a00'}; }}
        QLabel#cutNote {{ color: {'#f0b35a' if dark else '#8a5a00'}; font-style: italic; }}
        QFrame[excluded="true"] {{ border: 1px dashed {disabled}; }}
        QFrame[selected="true"] {{ border: 2px solid {selected}; }}
        QWidget#chatInner {{ background: palette(base); }}
        QWidget#sidebar {{ background: {sidebar}; }}
        QFrame#composerBox {{ background: palette(base); border-top: 1px solid {border}; }}
        QFrame#noticeBox {{ background: palette(base); border-top: 1px solid {border}; }}
        QLabel#notice {{ color: {'#f0b35a' if dark else '#8a5a00'}; }}
        QToolButton#cardAction {{ color: {disabled}; padding: 2px 8px; border-radius: 4px; }}
        QToolButton#cardAction:hover {{ color: {ACCENT}; background: {'#30324a' if dark else '#efeffc'}; }}
        QPushButton {{ padding: 5px 12px; border-radius: 6px; border: 1px solid {border};
                       background: palette(button); }}
        QPushButton:hover {{ border-color: {ACCENT}; }}
        QPushButton:disabled {{ color: {disabled}; }}
        QPushButton#primary {{ background: {ACCENT}; color: white; border: 1px solid {ACCENT}; font-weight: 600;
                               padding: 6px 14px; }}
        QPushButton#primary:hover {{ background: #4a4ac4; }}
        QPushButton#primary:disabled {{ background: {border}; border-color: {border}; color: {disabled}; }}
        QPushButton#link {{ border: none; background: transparent; color: {selected}; padding: 2px 4px; }}
        QPushButton#link:hover {{ text-decoration: underline; }}
        QPlainTextEdit, QLineEdit, QTableView, QListView {{ border: 1px solid {border}; border-radius: 6px; }}
        QLineEdit {{ padding: 4px 6px; background: palette(base); }}
        QListView#conversations {{ background: transparent; border: none; }}
        QPlainTextEdit#composer {{ padding: 4px; }}
        QPlainTextEdit#composer:focus, QLineEdit:focus {{ border-color: {ACCENT}; }}
        QTabWidget::pane {{ border: none; }}
        QTabBar::tab {{ padding: 8px 11px; border: none; background: transparent; }}
        QTabBar::tab:selected {{ color: {selected}; border-bottom: 2px solid {selected}; font-weight: 600; }}
        QTabBar::tab:hover:!selected {{ color: {selected}; }}
        QHeaderView::section {{ padding: 4px 6px; border: none; border-bottom: 1px solid {border};
                                background: palette(window); font-weight: 600; }}
        QStatusBar {{ border-top: 1px solid {border}; }}
        QStatusBar QLabel#statusField {{ padding: 0 10px; border-left: 1px solid {border}; }}
        QSplitter::handle {{ background: {border}; }}
        QSplitter::handle:horizontal {{ width: 1px; }}
        """
    )
    return dark
