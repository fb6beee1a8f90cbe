"""The FAISS index over memory vectors: a cache of SQLite, rebuilt when missing, stale or corrupt.

Ids are memory row ids. Exact inner-product search (``IndexFlatIP``) while
small; an inverted-file index (``IndexIVFFlat``) past ``IVF_THRESHOLD``
vectors. ``glassmind bench retrieval`` on two cores: the whole retrieval
takes 13 ms p95 with flat search at 100k vectors and grows linearly, so flat
would pass the 20 ms target near 150k; with IVF (nprobe 24) it is 43 ms p95
at 1M, most of it FTS5 ranking, not FAISS.
"""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Callable, Iterable

import faiss
import numpy as np

log = logging.getLogger(__name__)

IVF_THRESHOLD = 150_000
IVF_NPROBE = 24

Progress = Callable[[int, int], None]


def _ivf_nlist(n: int) -> int:
    return int(min(65536, max(256, 4 * np.sqrt(n))))


def make_index(dim: int, n: int) -> faiss.Index:
    """An empty index suited to ``n`` vectors (IVF ones still need training)."""
    if n < IVF_THRESHOLD:
        return faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    quantizer = faiss.IndexFlatIP(dim)
    index = faiss.IndexIVFFlat(quantizer, dim, _ivf_nlist(n), faiss.METRIC_INNER_PRODUCT)
    index.nprobe = IVF_NPROBE
    return index


def build_index(ids: np.ndarray, vecs: np.ndarray, dim: int) -> faiss.Index:
    index = make_index(dim, len(ids))
    if len(ids) and not index.is_trained:
        rng = np.random.default_rng(0)
        sample = vecs[rng.choice(len(vecs), size=min(len(vecs), 64 * index.nlist), replace=False)]
        index.train(sample)
    if len(ids):
        index.add_with_ids(vecs, ids.astype(np.int64))
    return index


class VectorIndex:
    """Thread-safe wrapper around one FAISS index persisted at ``<dir>/memories.faiss``."""

    def __init__(self, directory: Path, *, model: str, dim: int) -> None:
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.model = model
        self.dim = dim
        self._file = self.dir / "memories.faiss"
        self._meta_file = self.dir / "memories.json"
        self._lock = threading.RLock()
        self._index: faiss.Index = make_index(dim, 0)
        self.dirty = False

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    def load(self, expected: dict[str, int]) -> bool:
        """Load the cached index if it matches ``expected`` (count and id checksum); else False."""
        with self._lock:
            try:
                meta = json.loads(self._meta_file.read_text())
                if meta.get("model") != self.model or meta.get("dim") != self.dim:
                    return False
                if meta.get("state") != expected:
                    return False
                index = faiss.read_index(str(self._file))
                if index.d != self.dim or index.ntotal != expected.get("count"):
                    return False
            except (OSError, ValueError, RuntimeError) as exc:
                log.info("vector index cache unusable (%s); rebuilding", exc)
                return False
            self._index = index
            if isinstance(index, faiss.IndexIVF):
                index.nprobe = IVF_NPROBE
            self.dirty = False
            return True

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        with self._lock:
            self._index = build_index(ids, vecs, self.dim)
            self.dirty = True

    def add(self, ids: Iterable[int], vecs: np.ndarray) -> None:
        ids_arr = np.fromiter(ids, dtype=np.int64)
        if not len(ids_arr):
            return
        with self._lock:
            self._index.remove_ids(ids_arr)  # re-adding an id replaces its vector
            self._index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids_arr)
            self.dirty = True

    def remove(self, ids: Iterable[int]) -> None:
        ids_arr = np.fromiter(ids, dtype=np.int64)
        if not len(ids_arr):
            return
        with self._lock:
            self._index.remove_ids(ids_arr)
            self.dirty = True

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` nearest vectors by inner product, best first."""
        with self._lock:
            if self._index.ntotal == 0 or k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, self._index.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def save(self, state: dict[str, int]) -> None:
        """Write the index atomically, with the SQLite state it reflects."""
        with self._lock:
            tmp = self._file.with_suffix(".faiss.tmp")
            faiss.write_index(self._index, str(tmp))
            tmp.replace(self._file)
            meta_tmp = self._meta_file.with_suffix(".json.tmp")
            meta_tmp.write_text(json.dumps({"model": self.model, "dim": self.dim, "state": state}))
            meta_tmp.replace(self._meta_file)
            self.dirty = False
