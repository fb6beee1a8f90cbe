"""The FAISS index over memory vectors: a cache of SQLite, rebuilt when missing, stale or corrupt.

Ids are memory row ids. Exact inner-product search (``IndexFlatIP``) while
small; an inverted-file index (``IndexIVFFlat``) past ``IVF_THRESHOLD``
vectors. ``glassmind bench retrieval`` on two cores: the whole retrieval
takes 13 ms p95 with flat search at 100k vectors and grows linearly, so flat
would pass the 20 ms target near 150k; with IVF (nprobe 24) it is 43 ms p95
at 1M, most of it FTS5 ranking, not FAISS.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import faiss
import numpy as np

from models.errors import StoreError
from models.system import default_threads

log = logging.getLogger(__name__)
# FAISS's OpenMP threads spin like llama.cpp's: on a small busy CPU a one-query search took 7 ms
# with two threads and 0.04 ms with one (bench/RESULTS.md, 2026-11-23).
faiss.omp_set_num_threads(default_threads()[1])

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
        sample = vecs[rng.choice(len(vecs), size=min(len(vecs), 64 * index.nlist), replace=False)]  # type: ignore[attr-defined]
        index.train(sample)
    if len(ids):
        index.add_with_ids(vecs, ids.astype(np.int64))
    return index


class VectorIndex:
    """Thread-safe wrapper around one FAISS index persisted at ``<dir>/memories.faiss``.

    The file is trusted only when its SHA-256 matches the one SQLite recorded when it was
    saved (``MemoryStore`` keeps that record): a replaced, damaged or stale file is rebuilt.
    """

    def __init__(self, directory: Path, *, model: str, dim: int) -> None:
        self.dir = Path(directory)
        self.model = model
        self.dim = dim
        self._file = self.dir / "memories.faiss"
        for path in (self.dir, self._file):
            if path.exists() and not (path.is_dir() if path is self.dir else path.is_file()):
                what = "a folder" if path is self.dir else "a file"
                raise StoreError(
                    f"{path} should be {what} (Glassmind's search index) but is not: move it away and "
                    "start again; the index is rebuilt from the database."
                )
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"Cannot create the index folder {self.dir}: {exc.strerror or exc}.") from exc
        self._lock = threading.RLock()
        self._index: faiss.Index = make_index(dim, 0)

    @property
    def size(self) -> int:
        return int(self._index.ntotal)

    @property
    def kind(self) -> str:
        return "ivf" if isinstance(self._index, faiss.IndexIVF) else "flat"

    def load(self, sha256: str) -> bool:
        """Load the saved index if the file's checksum is ``sha256``; else False (rebuild it)."""
        with self._lock:
            try:
                data = self._file.read_bytes()
                if hashlib.sha256(data).hexdigest() != sha256:
                    log.info("vector index file does not match the database's record; rebuilding")
                    return False
                index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
                if index.d != self.dim:
                    return False
            except (OSError, ValueError, RuntimeError) as exc:
                log.info("vector index cache unusable (%s); rebuilding", exc)
                return False
            self._index = index
            if isinstance(index, faiss.IndexIVF):
                index.nprobe = IVF_NPROBE
            return True

    def rebuild(self, ids: np.ndarray, vecs: np.ndarray) -> None:
        with self._lock:
            self._index = build_index(ids, vecs, self.dim)

    def add(self, ids: Iterable[int], vecs: np.ndarray) -> None:
        ids_arr = np.fromiter(ids, dtype=np.int64)
        if not len(ids_arr):
            return
        with self._lock:
            self._index.remove_ids(ids_arr)  # type: ignore[arg-type]  # re-adding an id replaces its vector
            self._index.add_with_ids(np.ascontiguousarray(vecs, dtype=np.float32), ids_arr)

    def remove(self, ids: Iterable[int]) -> None:
        ids_arr = np.fromiter(ids, dtype=np.int64)
        if not len(ids_arr):
            return
        with self._lock:
            self._index.remove_ids(ids_arr)  # type: ignore[arg-type]  # faiss's stubs omit the array form

    def ids(self) -> np.ndarray:
        """Every id in the index (checks and tests)."""
        with self._lock:
            index = self._index
            if isinstance(index, faiss.IndexIDMap2) or hasattr(index, "id_map"):
                return faiss.vector_to_array(index.id_map).astype(np.int64)
            ivf = faiss.extract_index_ivf(index)
            invlists = ivf.invlists
            assert invlists is not None
            out = [
                faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                for i in range(ivf.nlist)
                if invlists.list_size(i)
            ]
            return np.concatenate(out).astype(np.int64) if out else np.zeros(0, dtype=np.int64)

    def search(self, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(ids, scores) of the ``k`` nearest vectors by inner product, best first."""
        with self._lock:
            if self._index.ntotal == 0 or k <= 0:
                return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
            scores, ids = self._index.search(query.reshape(1, -1).astype(np.float32), min(k, self._index.ntotal))
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    def similarity(self, query: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        """Inner product of ``query`` with the stored vectors of ``ids`` (those a search did not
        return); empty where the index cannot give vectors back (an IVF index without a direct map)."""
        keys = np.fromiter(ids, dtype=np.int64)
        if not len(keys):
            return {}
        with self._lock:
            try:
                vecs = self._index.reconstruct_batch(keys)
            except (RuntimeError, AssertionError):
                return {}
        scores = vecs @ query.reshape(-1).astype(np.float32)
        return {int(i): float(s) for i, s in zip(keys, scores, strict=True)}

    def save(self) -> str:
        """Write the index atomically; returns its SHA-256 for the database's record."""
        with self._lock:
            data = faiss.serialize_index(self._index).tobytes()
        tmp = self._file.with_suffix(".faiss.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(self._file)
            stale = self.dir / "memories.json"  # the first wave's sidecar; SQLite holds this now
            if stale.is_file():
                stale.unlink()
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)  # a full disk leaves a 0-byte or partial copy
            raise StoreError(
                f"Could not save the search index in {self.dir} ({exc.strerror or exc}); your data is safe "
                "in the database and the index is rebuilt on the next start."
            ) from exc
        return hashlib.sha256(data).hexdigest()


def remove_from_file(path: Path, ids: Iterable[int]) -> tuple[str, str] | None:
    """Rewrite a saved index without ``ids`` (a forget finished without an open index: its vectors must
    leave the file now, not when some later command opens it). Returns the file's SHA-256 before and
    after, or None when it held none of them. A file that cannot be read is deleted: it is a cache,
    rebuilt from the database, and may hold the vectors."""
    ids_arr = np.fromiter(ids, dtype=np.int64)
    try:
        data = path.read_bytes()
        index = faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        removed = index.remove_ids(ids_arr)  # type: ignore[arg-type]  # faiss's stubs omit the array form
    except (ValueError, RuntimeError, MemoryError) as exc:
        log.info("vector index file unreadable (%s); deleting it, it is rebuilt on the next open", exc)
        path.unlink(missing_ok=True)
        return None
    except OSError:
        return None
    if not removed:
        return None
    new = faiss.serialize_index(index).tobytes()
    tmp = path.with_suffix(".faiss.tmp")
    try:
        tmp.write_bytes(new)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        path.unlink(missing_ok=True)  # the old bytes must not stay; the index is rebuilt on the next open
        log.info("could not rewrite %s (%s); deleted it", path, exc)
        return None
    return hashlib.sha256(data).hexdigest(), hashlib.sha256(new).hexdigest()
