"""Retrieval latency at 10k / 100k / 1M memories, index build time, memory per vector, ingest rate.

Latency is the app's whole retrieval minus the query embedding (reported
apart): FAISS search, FTS5 BM25 search, fusion, neighbours and fetching the
rows from SQLite. The index part uses synthetic unit vectors; the rows are
synthetic sentences over a Zipf-distributed vocabulary, so keyword search
sees realistic posting-list lengths.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant import paths, repository
from assistant.memory import MemoryStore
from assistant.opening import open_store
from assistant.retrieval import Retriever
from assistant.store import Store, now_iso
from assistant.vector_index import build_index
from models.embedder import EMBEDDER_DIM, Embedder

DIM = EMBEDDER_DIM


def _vocabulary(n: int, rng: np.random.Generator) -> list[str]:
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    return ["".join(rng.choice(letters, size=rng.integers(3, 9))) for _ in range(n)]


def _sentences(n: int, vocab: list[str], rng: np.random.Generator) -> list[str]:
    ranks = np.minimum(rng.zipf(1.3, size=(n, 12)) - 1, len(vocab) - 1)
    return [" ".join(vocab[r] for r in row) for row in ranks]


def _synthetic_vectors(n: int, rng: np.random.Generator) -> np.ndarray:
    # Clustered, like real sentence embeddings, rather than uniform noise.
    centres = rng.standard_normal((256, DIM)).astype(np.float32)
    vecs = centres[rng.integers(0, 256, size=n)] + 0.6 * rng.standard_normal((n, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    return vecs


def _fill(store: Store, texts: list[str]) -> None:
    stamp = now_iso()
    rows = ({"kind": "note", "text": t, "source": "bench", "created": stamp, "pinned": 0, "excluded": 0} for t in texts)
    with store.write() as tx:
        repository.add_memories_unnumbered(tx, rows, batch_size=5000)


# "before": the retriever as it was before the relevance floor (issue #22), for a paired baseline.
VARIANTS: dict[str, dict[str, Any]] = {"now": {}, "before": {"floor": False}}


def latency_at(
    n: int, *, queries: int, rng: np.random.Generator, runs: int = 1, variants: dict[str, dict[str, Any]] | None = None
) -> dict[str, Any]:
    variants = variants or {"now": {}}
    vocab = _vocabulary(20_000, rng)
    with tempfile.TemporaryDirectory(prefix="glassmind-bench-") as tmp:
        store = open_store(paths.database_path(Path(tmp)))
        t0 = time.perf_counter()
        _fill(store, _sentences(n, vocab, rng))
        fill_s = time.perf_counter() - t0
        memories = MemoryStore(store, Embedder(), paths.index_dir(Path(tmp)))
        vecs = _synthetic_vectors(n, rng)
        ids = np.arange(1, n + 1, dtype=np.int64)
        t0 = time.perf_counter()
        memories.index._index = build_index(ids, vecs, DIM)
        build_s = time.perf_counter() - t0
        memories._index_ready = True
        memories.index.save()
        index_bytes = (Path(tmp) / "index" / "memories.faiss").stat().st_size
        qvecs = _synthetic_vectors(queries, rng)
        qtexts = [" ".join(rng.choice(vocab[20:2000], size=4)) for _ in range(queries)]
        # Best of ``runs`` passes per setting, the settings alternating within each pass, so both
        # see the same machine load (the cores are shared; one slow pass says little).
        best: dict[str, list[float]] = {}
        for _ in range(runs):
            for name, settings in variants.items():
                retriever = Retriever(memories, lambda text: len(text) // 4 + 1, **settings)
                retriever.retrieve(qtexts[0], budget=512, query_vec=qvecs[0])  # warm caches
                times = []
                for text, vec in zip(qtexts, qvecs, strict=True):
                    t = time.perf_counter()
                    retriever.retrieve(text, budget=512, query_vec=vec)
                    times.append(time.perf_counter() - t)
                times.sort()
                p95 = times[int(len(times) * 0.95)]
                if name not in best or p95 < best[name][1]:
                    best[name] = [times[len(times) // 2], p95]
        store.close()
    by_setting = {
        name: {"p50_ms": round(1000 * p50, 2), "p95_ms": round(1000 * p95, 2)} for name, (p50, p95) in best.items()
    }
    return {
        "memories": n,
        "index": memories.index.kind,
        **by_setting["now"],
        "runs": runs,
        "settings": by_setting,
        "index_build_s": round(build_s, 2),
        "bytes_per_vector": round(index_bytes / n, 1),
        "sqlite_fill_s": round(fill_s, 1),
    }


def ingest_rate(n: int = 1000) -> dict[str, Any]:
    """Messages per second embedded and indexed through the app's own path, and the raw embedder rate."""
    rng = np.random.default_rng(1)
    words = "we went hiking near the lake last weekend and my sister brought her new puppy along".split()
    texts = [" ".join(rng.choice(words, size=rng.integers(8, 30))) for _ in range(n)]
    embedder = Embedder()
    embedder.load()
    t = time.perf_counter()
    embedder.encode(texts)
    raw = n / (time.perf_counter() - t)
    with tempfile.TemporaryDirectory(prefix="glassmind-bench-") as tmp:
        store = open_store(paths.database_path(Path(tmp)))
        memories = MemoryStore(store, embedder, paths.index_dir(Path(tmp)))
        memories.open_index()
        t = time.perf_counter()
        for start in range(0, n, 100):
            memories.add_many([{"text": x, "kind": "message", "speaker": "user"} for x in texts[start : start + 100]])
        memories.flush()
        app = n / (time.perf_counter() - t)
        t = time.perf_counter()
        for x in texts[:50]:
            embedder.encode_one(x)
        one = (time.perf_counter() - t) / 50
        store.close()
    return {
        "messages_per_s": round(app, 1),
        "embedder_sentences_per_s": round(raw, 1),
        "query_embed_ms": round(1000 * one, 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench retrieval", description=__doc__)
    parser.add_argument("--sizes", default="10000,100000,1000000", help="comma-separated memory counts")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--runs", type=int, default=5, help="passes over the queries; the best p95 is kept")
    parser.add_argument("--compare", action="store_true", help="also time the retriever before issue #22, paired")
    parser.add_argument("--no-ingest", action="store_true", help="skip the ingest rate")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    result: dict[str, Any] = {"threads": os.cpu_count(), "latency": []}
    for n in (int(x) for x in args.sizes.split(",")):
        row = latency_at(
            n, queries=args.queries, rng=rng, runs=args.runs, variants=VARIANTS if args.compare else None
        )
        result["latency"].append(row)
        if not args.json:
            print(
                f"{n:>9,} memories ({row['index']}): p50 {row['p50_ms']} ms  p95 {row['p95_ms']} ms  "
                f"build {row['index_build_s']} s  {row['bytes_per_vector']} bytes/vector (best of {args.runs})",
                flush=True,
            )
            if "before" in row["settings"]:
                before = row["settings"]["before"]
                print(f"{'':>9}  before #22: p50 {before['p50_ms']} ms  p95 {before['p95_ms']} ms", flush=True)
    if not args.no_ingest:
        result["ingest"] = ingest_rate()
    if args.json:
        print(json.dumps(result))
    elif "ingest" in result:
        ing = result["ingest"]
        print(
            f"ingest: {ing['messages_per_s']} messages/s embedded and indexed "
            f"(embedder alone {ing['embedder_sentences_per_s']}/s); one query embedding {ing['query_embed_ms']} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
