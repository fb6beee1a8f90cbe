"""The models an Assistant uses, loaded on first use as the settings say, and loaded again when a
setting they were loaded with changes; the embedder and the vector index behind retrieval."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from assistant import paths
from assistant.context import WindowBuilder
from assistant.drafts import _Preview
from assistant.events import ModelInfo
from assistant.memory import MemoryStore
from assistant.retrieval import Retriever
from assistant.settings import Settings
from assistant.store import Store
from models.embedder import Embedder
from models.errors import ModelFileError
from models.llama import ChatModel
from models.registry import ModelEntry, ModelRegistry, bundled_model_path
from models.runtime import ChatRuntime
from models.servers import ServerRegistry, find_key, open_server
from models.templates import fallback_template


class Loading:
    """The Assistant's models and settings (assistant/app.py mixes it in)."""

    data_dir: Path
    store: Store
    settings: Settings
    registry: ModelRegistry
    embedder: Embedder
    memories: MemoryStore
    _model: ChatRuntime | None
    # How a served model's key is asked when neither the keyring nor an environment variable has it
    # (the CLI: a hidden prompt; None: not asked, the server's refusal is said instead).
    ask_key: Callable[[str], str | None] | None = None
    _builder: WindowBuilder | None
    _retriever: Retriever | None
    _preview: _Preview | None

    def save_settings(self, settings: Settings) -> None:
        settings.validate()
        loading = ("model", "n_ctx", "gpu_layers", "chat_template", "threads", "flash_attn")
        reload = any(getattr(settings, k) != getattr(self.settings, k) for k in loading)
        self.store.set_setting("settings", settings.to_json())
        self.settings = settings
        if reload and self._model is not None:
            self.unload_model()

    def model_entry(self) -> ModelEntry:
        return self.registry.resolve(self.settings.model)

    def model_info(self) -> ModelInfo:
        """Name, backend and size of the loaded model (loading it first if needed)."""
        model = self.load_model()
        served = ServerRegistry(self.data_dir).get(self.settings.model)
        return ModelInfo(
            name=served.name if served else self.model_entry().name,
            backend=model.backend,
            n_ctx=model.n_ctx,
            gpu_layers=model.gpu_layers,
            notice=model.notice or "",
            location=model.location,
            exact_counts=model.exact_counts,
        )

    def load_model(self) -> ChatRuntime:
        """Load the chat model named in the settings (the bundled default when none): a GGUF run here,
        or a server the user added (models/servers.py), which the rest of the core cannot tell apart."""
        if self._model is None:
            served = ServerRegistry(self.data_dir).get(self.settings.model)
            if served is not None:
                self._model = open_server(
                    served, api_key=find_key(served, self.ask_key),
                    tokenizer=lambda: ChatModel(bundled_model_path(), n_ctx=512, n_gpu_layers=0),
                )
                self._builder = WindowBuilder(self._model)
                self._retriever = None
                return self._model
            entry = self.model_entry()
            if entry.error:
                raise ModelFileError(entry.error)
            s = self.settings
            template = fallback_template(s.chat_template) if s.chat_template else None
            self._model = ChatModel(
                entry.path, n_ctx=s.n_ctx, n_gpu_layers=s.gpu_layers, n_threads=s.threads or None,
                flash_attn=s.flash_attn, chat_template=template, load_record=paths.load_check_record(self.data_dir),
            )
            self._builder = WindowBuilder(self._model)
            self._retriever = None
        return self._model

    def unload_model(self) -> None:
        if self._model is not None:
            self._model.close()
        self._model = None
        self._builder = None
        self._retriever = None
        self._preview = None

    @property
    def model_loaded(self) -> bool:
        """Whether a chat model is loaded now (asking does not load one)."""
        return self._model is not None

    @property
    def model(self) -> ChatRuntime:
        return self.load_model()

    @property
    def retriever(self) -> Retriever:
        if self._retriever is None:
            self._retriever = Retriever(self.memories, self.model.count_tokens)
        return self._retriever

    def open_memory(self, progress: Callable[[int, int], None] | None = None, *, embed: bool = True) -> str:
        """Load the embedder and the vector index (rebuilt from SQLite if needed). ``embed=False``:
        the index only, for erasing (the embedder takes seconds to load and is not needed)."""
        if embed:
            self.embedder.load()
        return self.memories.open_index(progress, embed=embed)
