"""Models: the curated catalogue with a "fits this machine" verdict, and downloads (catalogue or URL)
with progress, speed, ETA and Cancel. A download runs in its own QThread; the network is used only
when the user presses a Download button."""

from __future__ import annotations

import threading
from typing import Any

from PySide6.QtCore import QObject, Qt, QThread, Signal, Slot
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from models.catalog import CatalogEntry, Fit, gib, installed_state, load_catalog
from models.download import DownloadCancelled, DownloadProgress, download_model
from models.errors import GlassmindError
from models.registry import ModelEntry, ModelRegistry
from models.system import MachineMemory, machine_memory
from ui.server_dialog import ServerDialog

COLUMNS = ["Model", "Size", "Quantisation", "Context", "Licence", "This machine", "Status"]
VERDICT_TEXT = {"fits": "✓ fits", "tight": "! tight", "too big": "✗ too big", "unknown": "? unknown"}


class DownloadWorker(QObject):
    """Runs one download (models.download) in a worker thread.

    Signals:
        progress(DownloadProgress): about ten a second.
        finished(tuple): (ModelEntry, DownloadResult) of the verified, registered file.
        failed(str, bool): why it stopped, and whether the user cancelled it.
    """

    progress = Signal(DownloadProgress)
    finished = Signal(tuple)
    failed = Signal(str, bool)

    def __init__(self, registry: ModelRegistry, source: str, sha256: str | None, catalog: list[CatalogEntry]) -> None:
        super().__init__()
        self.cancel = threading.Event()
        self._registry = registry
        self._source = source
        self._sha256 = sha256
        self._catalog = catalog

    @Slot()
    def run(self) -> None:
        try:
            result = download_model(
                self._registry, self._source, sha256=self._sha256, catalog=self._catalog,
                cancel=self.cancel, progress=self.progress.emit,
            )
        except DownloadCancelled as exc:
            self.failed.emit(str(exc), True)
        except GlassmindError as exc:
            self.failed.emit(str(exc), False)
        except OSError as exc:
            self.failed.emit(
                f"The download could not be saved ({exc.strerror or exc}): check the models folder.", False
            )
        else:
            self.finished.emit(result)


class ModelsDialog(QDialog):
    """The model catalogue and downloads.

    Signals:
        installed(ModelEntry): a model was downloaded, verified and registered (its entry, read on
            the download thread).
        downloaded(str): its path, just after.
        servers_changed(list): a model server was added or removed in "Add a server…" (the servers now).
    """

    installed = Signal(ModelEntry)
    downloaded = Signal(str)
    servers_changed = Signal(list)  # the servers after one was added or removed (ServerEntry)

    def __init__(
        self,
        registry: ModelRegistry,
        *,
        catalog: list[CatalogEntry] | None = None,
        memory: MachineMemory | None = None,
        gpu_offload: bool | None = None,
        n_ctx: int | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Models")
        self.resize(980, 560)
        self._registry = registry
        self._n_ctx = n_ctx
        self._error = ""
        try:
            self._catalog = load_catalog() if catalog is None else catalog
        except GlassmindError as exc:
            self._catalog, self._error = [], str(exc)
        if gpu_offload is None:
            from models.llama import (
                gpu_offload_supported,  # already loaded by the engine thread
            )

            gpu_offload = gpu_offload_supported()
        self._gpu = gpu_offload
        self._memory = memory or machine_memory(with_gpu=gpu_offload)
        self._thread: QThread | None = None
        self._worker: DownloadWorker | None = None
        self.server_dialog: ServerDialog | None = None

        layout = QVBoxLayout(self)
        self.machine_label = QLabel(self._memory.describe() + (" llama.cpp can use the GPU." if gpu_offload else ""))
        self.machine_label.setObjectName("muted")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.details = QLabel(self._error)
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setMinimumHeight(72)

        self.download_button = QPushButton("Download")
        self.download_button.setObjectName("primary")
        self.cancel_button = QPushButton("Cancel download")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.status = QLabel("Nothing is downloaded until you press Download.")
        self.status.setWordWrap(True)
        row = QHBoxLayout()
        row.addWidget(self.download_button)
        row.addWidget(self.cancel_button)
        row.addWidget(self.progress, 1)

        self.url_edit = QLineEdit()
        self.url_edit.setPlaceholderText("Or any https address of a .gguf file…")
        self.sha_edit = QLineEdit()
        self.sha_edit.setPlaceholderText("its sha256 (optional)")
        self.url_button = QPushButton("Download URL")
        url_row = QHBoxLayout()
        url_row.addWidget(self.url_edit, 3)
        url_row.addWidget(self.sha_edit, 2)
        url_row.addWidget(self.url_button)

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.server_button = QPushButton("Add a server…")
        self.server_button.setToolTip("A model served by llama-server, vLLM or any OpenAI-compatible server")
        buttons.addButton(self.server_button, QDialogButtonBox.ButtonRole.ActionRole)
        layout.addWidget(self.machine_label)
        layout.addWidget(self.table, 1)
        layout.addWidget(self.details)
        layout.addLayout(row)
        layout.addWidget(self.status)
        layout.addLayout(url_row)
        layout.addWidget(buttons)

        self._fill()
        self.table.itemSelectionChanged.connect(self._on_table_item_selection_changed)
        self.download_button.clicked.connect(self._on_download_button_clicked)
        self.cancel_button.clicked.connect(self._on_cancel_button_clicked)
        self.url_button.clicked.connect(self._on_url_button_clicked)
        self.url_edit.returnPressed.connect(self._on_url_button_clicked)
        self.server_button.clicked.connect(self._on_server_button_clicked)
        buttons.rejected.connect(self.reject)
        if self._catalog:
            self.table.selectRow(0)

    # -- the table ----------------------------------------------------------------------

    def _fit(self, entry: CatalogEntry) -> Fit:
        return entry.fit(self._memory, n_ctx=self._n_ctx, gpu_offload=self._gpu)

    def _fill(self) -> None:
        self.table.setRowCount(len(self._catalog))
        for row, entry in enumerate(self._catalog):
            fit = self._fit(entry)
            cells = [
                entry.title,
                gib(entry.size_bytes),
                entry.quantization,
                f"{entry.context_length:,}",
                entry.licence,
                VERDICT_TEXT[fit.verdict],
                self._state_text(entry),
            ]
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if col == 5:
                    item.setToolTip(fit.describe())
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        self.table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)

    def _state_text(self, entry: CatalogEntry) -> str:
        state, on_disk = installed_state(entry, self._registry.models_dir)
        if state == "partial":
            return f"Partly downloaded ({on_disk * 100 // max(1, entry.size_bytes)}%)"
        return {"installed": "Installed", "absent": ""}[state]

    def selected_entry(self) -> CatalogEntry | None:
        rows = self.table.selectionModel().selectedRows()
        return self._catalog[rows[0].row()] if rows else None

    def _refresh_row(self, entry: CatalogEntry) -> None:
        self.table.setItem(self._catalog.index(entry), 6, QTableWidgetItem(self._state_text(entry)))

    def _on_table_item_selection_changed(self) -> None:
        entry = self.selected_entry()
        if entry is None:
            return
        fit = self._fit(entry)
        self.details.setText(
            f"<b>{entry.title}</b> — {entry.parameters_b:.1f}B parameters, {entry.quantization}, "
            f"{gib(entry.size_bytes)}. {entry.description}<br>"
            f"<b>This machine:</b> {fit.describe()}.<br>"
            f"Licence: <a href='{entry.licence_url}'>{entry.licence}</a> · source {entry.url}<br>"
            f"sha256 {entry.sha256}"
        )
        self._update_buttons()

    # -- downloads ----------------------------------------------------------------------

    @property
    def busy(self) -> bool:
        return self._thread is not None

    def _update_buttons(self) -> None:
        entry = self.selected_entry()
        installed = entry is not None and installed_state(entry, self._registry.models_dir)[0] == "installed"
        self.download_button.setEnabled(not self.busy and entry is not None and not installed)
        self.download_button.setText("Installed" if installed else "Download")
        self.url_button.setEnabled(not self.busy)
        self.cancel_button.setEnabled(self.busy)

    def _on_download_button_clicked(self) -> None:
        entry = self.selected_entry()
        if entry is not None:
            self._start(entry.name, None, entry.title)

    def _on_url_button_clicked(self) -> None:
        url = self.url_edit.text().strip()
        if url and not self.busy:
            self._start(url, self.sha_edit.text().strip() or None, url.rsplit("/", 1)[-1])

    def _start(self, source: str, sha256: str | None, label: str) -> None:
        self._label = label
        self.progress.setValue(0)
        self.status.setText(f"Connecting to download {label}…")
        thread = QThread(self)
        thread.setObjectName("glassmind-download")
        worker = DownloadWorker(self._registry, source, sha256, self._catalog)
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        worker.progress.connect(self._on_worker_progress)
        worker.finished.connect(self._on_worker_finished)
        worker.failed.connect(self._on_worker_failed)
        self._thread, self._worker = thread, worker
        self._update_buttons()
        thread.start()

    def _on_worker_progress(self, p: DownloadProgress) -> None:
        if p.fraction is not None:
            self.progress.setValue(int(p.fraction * 1000))
        else:
            self.progress.setRange(0, 0)  # size unknown: a busy bar
        self.status.setText(f"{self._label}: {p.describe()}")

    def _on_worker_finished(self, result: Any) -> None:
        entry, outcome = result
        self._end()
        self.progress.setValue(1000)
        how = "sha256 verified" if outcome.checksum_verified else "no checksum given; GGUF structure checked"
        self.status.setText(f"Installed {entry.name} ({how}). Choose it in Settings → Model.")
        self.installed.emit(entry)
        self.downloaded.emit(entry.path)

    def _on_worker_failed(self, message: str, cancelled: bool) -> None:
        self._end()
        self.status.setText(message)

    def _end(self) -> None:
        thread = self._thread
        self._thread, self._worker = None, None
        if thread is not None:
            thread.quit()
            thread.wait()
            thread.deleteLater()
        for entry in self._catalog:
            self._refresh_row(entry)
        self.progress.setRange(0, 1000)
        self._update_buttons()

    def _on_cancel_button_clicked(self) -> None:
        if self._worker is not None:
            self._worker.cancel.set()
            self.status.setText("Cancelling…")

    def _on_server_button_clicked(self) -> None:
        if self.server_dialog is None:
            self.server_dialog = ServerDialog(self._registry.data_dir, self)
            self.server_dialog.changed.connect(self.servers_changed)
        self.server_dialog.open()

    def stop(self) -> None:
        """Cancel a running download and wait for its thread (the part stays for a later resume)."""
        if self._worker is not None:
            self._worker.cancel.set()
        if self._thread is not None:
            self._thread.quit()
            self._thread.wait()
        if self.server_dialog is not None:
            self.server_dialog.stop()

    def done(self, result: int) -> None:
        self.stop()
        super().done(result)
