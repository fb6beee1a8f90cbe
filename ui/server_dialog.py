"""Settings → Models → "Add a server…": a model served by llama-server or any OpenAI-compatible server.

URL, an optional API key (a password field), an optional name and the model picked from what the
server lists; "Test connection" reports what the server offers (the core's ``probe``). Adding says
what leaves the computer and asks once (the same sentence as ``glassmind models add-server``). The
key goes where the CLI puts it (the OS keyring, else this run's memory), never to a file. Every
request to the server, and every read or write of the server list, runs in a worker thread.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from models.errors import GlassmindError
from models.server_http import parse_address
from models.servers import WHAT_LEAVES, ServerEntry, ServerOffer, ServerRegistry, probe, store_key


def server_label(entry: ServerEntry) -> str:
    """How a server is named in the model lists: "name on host:port"."""
    return f"{entry.name} on {entry.location}"


class _Job(QObject):
    """One call run in a worker thread: ``done(job, result)`` or ``failed(job, sentence)``."""

    done = Signal(object, object)  # (the job, its result)
    failed = Signal(object, str)  # (the job, the sentence)

    def __init__(self, call: Callable[[], Any]) -> None:
        super().__init__()
        self._call = call

    @Slot()
    def run(self) -> None:
        try:
            result = self._call()
        except GlassmindError as exc:
            self.failed.emit(self, str(exc))
        except OSError as exc:
            why = exc.strerror or exc
            self.failed.emit(self, f"The server list could not be saved ({why}): check the data folder.")
        else:
            self.done.emit(self, result)


class ServerDialog(QDialog):
    """The servers the user added (Remove) and the form to add one.

    Signals:
        changed(list): a server was added or removed; the servers now (a list of ``ServerEntry``).
    """

    changed = Signal(list)

    def __init__(self, data_dir: Path, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Model servers")
        self.resize(720, 520)
        self._servers = ServerRegistry(data_dir)
        self._jobs: list[tuple[QThread, _Job, Callable[[Any], None]]] = []
        self._offer: ServerOffer | None = None
        self._tested_url = ""

        layout = QVBoxLayout(self)
        self.list = QListWidget()
        self.list.setMaximumHeight(110)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setEnabled(False)
        listed = QHBoxLayout()
        listed.addWidget(self.list, 1)
        listed.addWidget(self.remove_button)

        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("e.g. http://192.168.1.20:8080 or https://gpu-box.example.org")
        self.key_edit = QLineEdit()
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.key_edit.setPlaceholderText("optional; kept in the system keyring")
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("optional; default: the served model's name")
        self.model_box = QComboBox()
        self.model_box.setEnabled(False)
        self.test_button = QPushButton("Test connection")
        form = QFormLayout()
        form.addRow("Server URL", self.url_edit)
        form.addRow("API key", self.key_edit)
        form.addRow("Name", self.name_edit)
        form.addRow("Model", self.model_box)

        self.offer_label = QLabel("Nothing is sent until you press Test connection.")
        self.offer_label.setWordWrap(True)
        self.leaves_label = QLabel("")
        self.leaves_label.setWordWrap(True)
        self.leaves_label.setObjectName("muted")
        self.agree = QCheckBox("Send the context window to this server")
        self.add_button = QPushButton("Add server")
        self.add_button.setObjectName("primary")
        self.add_button.setEnabled(False)
        actions = QHBoxLayout()
        actions.addWidget(self.test_button)
        actions.addStretch(1)
        actions.addWidget(self.add_button)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)

        layout.addWidget(QLabel("Servers you added"))
        layout.addLayout(listed)
        layout.addLayout(form)
        layout.addWidget(self.offer_label)
        layout.addWidget(self.leaves_label)
        layout.addWidget(self.agree)
        layout.addLayout(actions)
        layout.addWidget(self.status)
        layout.addStretch(1)
        layout.addWidget(buttons)

        self.list.itemSelectionChanged.connect(self._update_buttons)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.url_edit.textChanged.connect(self._on_url_edit_text_changed)
        self.agree.toggled.connect(self._update_buttons)
        buttons.rejected.connect(self.reject)
        self._run(self._servers.entries, self._show_entries)

    # -- worker threads -----------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return bool(self._jobs)

    def _run(self, call: Callable[[], Any], then: Callable[[Any], None]) -> None:
        thread = QThread(self)
        thread.setObjectName("glassmind-server")
        job = _Job(call)
        job.moveToThread(thread)
        thread.started.connect(job.run)
        # Slots of this dialog (which lives on the GUI thread): the answers come back queued.
        job.done.connect(self._on_job_done)
        job.failed.connect(self._on_job_failed)
        self._jobs.append((thread, job, then))
        self._update_buttons()
        thread.start()

    def _finish(self, job: object) -> Callable[[Any], None] | None:
        for row in self._jobs:
            if row[1] is job:
                self._jobs.remove(row)
                row[0].quit()
                row[0].wait()
                row[0].deleteLater()
                self._update_buttons()
                return row[2]
        return None

    @Slot(object, object)
    def _on_job_done(self, job: object, result: object) -> None:
        then = self._finish(job)
        if then is not None:
            then(result)

    @Slot(object, str)
    def _on_job_failed(self, job: object, text: str) -> None:
        self._finish(job)
        self.status.setText(text)

    def stop(self) -> None:
        """Wait for a running request (each has its own timeout) before the dialog goes."""
        for thread, _job, _then in list(self._jobs):
            thread.quit()
            thread.wait()

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)

    # -- the list -----------------------------------------------------------------------

    def _show_entries(self, entries: list[ServerEntry]) -> None:
        self.list.clear()
        for e in entries:
            item = QListWidgetItem(f"{server_label(e)}  ({e.kind}{', ' + e.model_id if e.model_id else ''})")
            item.setData(256, e.name)  # Qt.UserRole
            self.list.addItem(item)
        if not entries:
            self.list.addItem(QListWidgetItem("None yet."))
        self._update_buttons()

    def _selected_name(self) -> str | None:
        items = self.list.selectedItems()
        name = items[0].data(256) if items else None
        return str(name) if name else None

    def _on_remove_button_clicked(self) -> None:
        name = self._selected_name()
        if name is None:
            return
        servers = self._servers

        def remove() -> list[ServerEntry]:
            servers.remove(name)
            return servers.entries()

        self.status.setText(f"Removing {name}…")
        self._run(remove, lambda entries: self._removed(name, entries))

    def _removed(self, name: str, entries: list[ServerEntry]) -> None:
        self.status.setText(f"Removed {name} (and its key, if the keyring held one).")
        self._show_entries(entries)
        self.changed.emit(entries)

    # -- testing and adding -------------------------------------------------------------

    def _update_buttons(self) -> None:
        busy = self.busy
        self.test_button.setEnabled(not busy and bool(self.url_edit.text().strip()))
        self.add_button.setEnabled(not busy and self._offer is not None and self.agree.isChecked())
        self.remove_button.setEnabled(not busy and self._selected_name() is not None)

    def _on_url_edit_text_changed(self, _text: str) -> None:
        if self.url_edit.text().strip() != self._tested_url:  # another server: test it again
            self._offer = None
            self.model_box.clear()
            self.model_box.setEnabled(False)
            self.leaves_label.setText("")
        self._update_buttons()

    def _on_test_button_clicked(self) -> None:
        url = self.url_edit.text().strip()
        key = self.key_edit.text().strip() or None
        try:
            address = parse_address(url, allow_plain_http=False)
        except GlassmindError as exc:
            self.status.setText(str(exc))
            return
        self._offer = None
        self.status.setText(f"Connecting to {address.location}…")
        self._run(lambda: probe(address.url, api_key=key), lambda offer: self._tested(url, offer))

    def _tested(self, url: str, offer: ServerOffer) -> None:
        if self.url_edit.text().strip() != url:  # the URL was changed meanwhile: that one is not tested
            return
        self._offer, self._tested_url = offer, url
        address = parse_address(url, allow_plain_http=False)
        self.model_box.clear()
        self.model_box.addItems(list(offer.models))
        self.model_box.setEnabled(len(offer.models) > 1)
        self.offer_label.setText(f"{address.location} offers {offer.describe()}.")
        plain = " The connection is plain http: not encrypted." if address.scheme == "http" else ""
        self.leaves_label.setText(WHAT_LEAVES.format(where=address.location) + plain)
        self.status.setText("")
        self._update_buttons()

    def _on_add_button_clicked(self) -> None:
        offer = self._offer
        if offer is None or not self.agree.isChecked():
            return
        address = parse_address(self._tested_url, allow_plain_http=False)
        model = self.model_box.currentText() or None
        name = self.name_edit.text().strip() or model or address.host
        key = self.key_edit.text().strip() or None
        entry = ServerEntry(name=name, url=address.url, kind=offer.kind, model_id=model)
        servers = self._servers

        def add() -> tuple[ServerEntry, bool | None, list[ServerEntry]]:
            servers.add(entry)
            kept = store_key(entry.name, key) if key else None
            return entry, kept, servers.entries()

        self.status.setText(f"Adding {name}…")
        self._run(add, self._added)

    def _added(self, result: tuple[ServerEntry, bool | None, list[ServerEntry]]) -> None:
        entry, kept, entries = result
        where = {
            True: " The API key is kept in the system keyring.",
            False: " There is no system keyring here: the key is kept until Glassmind closes, then asked again.",
            None: "",
        }[kept]
        self.status.setText(f"Added {server_label(entry)}: choose it in the model list.{where}")
        self.key_edit.clear()
        self.agree.setChecked(False)
        self._show_entries(entries)
        self.changed.emit(entries)
