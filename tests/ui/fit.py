"""Whether the text a user sees fits: every visible label, button, tab and status message of a
window, checked against the room it is given (elided, cut, or hidden behind its parent's edge)."""

from __future__ import annotations

from PySide6.QtCore import QPoint, QRect
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QCheckBox,
    QLabel,
    QMainWindow,
    QPushButton,
    QStatusBar,
    QStyle,
    QStyleOptionButton,
    QTabBar,
    QWidget,
)


def _in_scroll_viewport(widget: QWidget) -> bool:
    """Inside a scrolled viewport: what is out of view vertically can be scrolled to."""
    parent = widget.parentWidget()
    while parent is not None:
        if isinstance(parent.parentWidget(), QAbstractScrollArea) and parent.objectName() == "qt_scrollarea_viewport":
            return True
        parent = parent.parentWidget()
    return False


def _clipped(widget: QWidget, top: QWidget) -> str | None:
    """The widget's rect, in ``top``'s coordinates, cut by an ancestor's edge (only sideways in a
    scrolled viewport)."""
    rect = QRect(widget.mapTo(top, QPoint(0, 0)), widget.size())
    scrolled = _in_scroll_viewport(widget)
    parent = widget.parentWidget()
    while parent is not None and parent is not top.parentWidget():
        area = QRect(parent.mapTo(top, QPoint(0, 0)), parent.size())
        if scrolled:
            if rect.left() < area.left() - 1 or rect.right() > area.right() + 1:
                return f"sticks out of {type(parent).__name__} sideways"
        elif not area.adjusted(-1, -1, 1, 1).contains(rect):
            return f"cut by the edge of {type(parent).__name__} {parent.objectName()!r}"
        if parent is top:
            break
        parent = parent.parentWidget()
    return None


def _label_problem(label: QLabel) -> str | None:
    if not label.text().strip():
        return None
    if label.wordWrap():
        need = label.heightForWidth(label.width())
        if need > label.height() + 1:
            return f"needs {need} px of height, has {label.height()}"
        if label.minimumSizeHint().width() > label.width() + 1:
            return f"a word needs {label.minimumSizeHint().width()} px, has {label.width()}"
        return None
    hint = label.sizeHint()
    margins = label.contentsMargins()
    if hint.width() - margins.left() - margins.right() > label.contentsRect().width() + 1:
        return f"needs {hint.width()} px of width, has {label.width()}"
    if hint.height() > label.height() + 1:
        return f"needs {hint.height()} px of height, has {label.height()}"
    return None


def _button_problem(button: QAbstractButton) -> str | None:
    """The text against the room the style gives it (a style's minimum button width is not text)."""
    text = button.text().replace("&&", "\0").replace("&", "").replace("\0", "&")
    if not text.strip():
        return None
    need = button.fontMetrics().horizontalAdvance(text)
    if isinstance(button, QPushButton):
        option = QStyleOptionButton()
        button.initStyleOption(option)
        room = button.style().subElementRect(QStyle.SubElement.SE_PushButtonContents, option, button).width()
        room -= 2 * button.style().pixelMetric(QStyle.PixelMetric.PM_ButtonMargin, option, button) // 2
    else:
        room = button.contentsRect().width() - 4
    if isinstance(button, QCheckBox):
        room -= button.style().pixelMetric(QStyle.PixelMetric.PM_IndicatorWidth) + 4
    if need > room + 1:
        return f"the text needs {need} px, there are {room}"
    return None


def _tabs_problem(bar: QTabBar) -> str | None:
    need = sum(bar.tabRect(i).width() for i in range(bar.count()))
    if need > bar.width() + 1:
        return f"the tabs need {need} px, the bar has {bar.width()} (some are scrolled away)"
    return None


def _status_problem(status: QStatusBar) -> str | None:
    message = status.currentMessage()
    if not message:
        return None
    permanent = [w for w in status.findChildren(QWidget) if w.isVisible() and w.parentWidget() is status
                 and not isinstance(w, QStatusBar)]
    lefts = [w.geometry().left() for w in permanent if w.geometry().left() > 0]
    room = (min(lefts) if lefts else status.width()) - 8
    need = status.fontMetrics().horizontalAdvance(message)
    return f"the message needs {need} px, there are {room}" if need > room else None


def misfits(window: QWidget) -> list[str]:
    """Every piece of visible text in ``window`` that does not fit, as 'kind "text": why'."""
    found: list[str] = []
    for w in window.findChildren(QWidget):
        if not w.isVisible() or w.window() is not window:
            continue
        problem = None
        text = ""
        if isinstance(w, QLabel):
            text, problem = w.text(), _label_problem(w)
        elif isinstance(w, QAbstractButton):
            text, problem = w.text(), _button_problem(w)
        elif isinstance(w, QTabBar):
            text, problem = " | ".join(w.tabText(i) for i in range(w.count())), _tabs_problem(w)
        else:
            continue
        if problem is None and text.strip():
            problem = _clipped(w, window)
        if problem:
            found.append(f"{type(w).__name__} {text[:60]!r}: {problem}")
    if isinstance(window, QMainWindow):
        problem = _status_problem(window.statusBar())
        if problem:
            found.append(f"status {window.statusBar().currentMessage()!r}: {problem}")
    return found
