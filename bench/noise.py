"""Memory precision: what retrieval puts into the window for messages that need no memory.

A fixed store — one LoCoMo conversation (one Glassmind conversation per
session, as an imported chat history), a user's notes and earlier chats with
the assistant (bench/data/noise_store.json) — is asked every message of the
labelled set bench/data/noise.jsonl, each as the first message of a new
conversation. For messages that need no memory (greetings in several
languages, small talk, arithmetic, general knowledge, new topics) any memory
in the window is noise; messages that need memory (questions about the
notes, the chats and the conversation) should still get some. The set has a
tuning part and a frozen part that was never tuned on; both are reported.

Memory tokens are those of the window's memory items (each note's line, as
the context window counts them), within the default memory budget.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.memory import MemoryStore
from assistant.opening import open_store
from assistant.retrieval import Retriever
from bench.locomo import ingest_sessions
from models.embedder import Embedder

DATA = Path(__file__).parent / "data"
BUDGET = 512  # the app's default memory budget
PARTS = ("tune", "frozen")


def build_store(data_dir: Path, embedder: Embedder, locomo: Path) -> MemoryStore:
    """The fixed store the labelled messages are asked of."""
    store = open_store(paths.database_path(data_dir))
    memories = MemoryStore(store, embedder, paths.index_dir(data_dir))
    memories.open_index()
    ingest_sessions(memories, json.loads(locomo.read_text()))
    fixed = json.loads((DATA / "noise_store.json").read_text())
    stamp = "2026-11-20T09:00:00+00:00"
    memories.add_many([{"text": t, "kind": "note", "source": "user", "created": stamp} for t in fixed["notes"]])
    for chat in fixed["chats"]:
        conv = store.create_conversation(chat[0][1][:40])
        rows = [{"role": role, "content": text, "created": stamp} for role, text in chat]
        ids = store.import_messages(conv.id, rows)
        memories.add_many(
            [
                {
                    "text": text, "kind": "message", "source": "chat", "speaker": role,
                    "conversation_id": conv.id, "message_id": mid, "created": stamp,
                }
                for (role, text), mid in zip(chat, ids, strict=True)
            ]
        )
    memories.flush()
    return memories


def _summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    tokens = [r["tokens"] for r in rows]
    return {
        "messages": len(rows),
        "median_tokens": statistics.median(tokens) if tokens else 0,
        "share_with_none": round(sum(1 for t in tokens if t == 0) / len(tokens), 3) if tokens else 0.0,
        "share_with_some": round(sum(1 for t in tokens if t > 0) / len(tokens), 3) if tokens else 0.0,
    }


def run(locomo: Path, *, floor: bool = True) -> dict[str, Any]:
    from models.llama import ChatModel
    from models.registry import bundled_model_path

    tokenizer = ChatModel(bundled_model_path(), n_ctx=512)
    embedder = Embedder()
    embedder.load()
    labelled = [json.loads(line) for line in (DATA / "noise.jsonl").read_text().splitlines() if line.strip()]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="glassmind-noise-") as tmp:
        memories = build_store(Path(tmp), embedder, locomo)
        retriever = Retriever(memories, tokenizer.count_tokens, floor=floor)
        for item in labelled:
            result = retriever.retrieve(item["text"], budget=BUDGET)
            best = max(
                [*result.hits, *result.below_floor], key=lambda h: h.dense if h.dense is not None else -1.0,
                default=None,
            )
            rows.append(
                {
                    **item,
                    "tokens": sum(h.tokens for h in result.hits),
                    "memories": len(result.hits),
                    "best_dense": best.dense if best is not None else None,
                    "best_distinctive": max((h.distinctive for h in [*result.hits, *result.below_floor]), default=0),
                    "top": [h.memory.text[:60] for h in result.hits[:2]],
                }
            )
        memories.store.close()
    out: dict[str, Any] = {"budget": BUDGET, "floor": floor}
    for part in PARTS:
        mine = [r for r in rows if r["part"] == part]
        out[part] = {
            "no_memory": _summary([r for r in mine if not r["needs_memory"]]),
            "needs_memory": _summary([r for r in mine if r["needs_memory"]]),
        }
    out["rows"] = rows
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench noise", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo-dev"), help="LoCoMo dir")
    parser.add_argument("--conv", default="41", help="the LoCoMo conversation in the store (file name without .json)")
    parser.add_argument("--no-floor", action="store_true", help="without the relevance floor (as before)")
    parser.add_argument("--show", choices=PARTS, help="print every message of this part with what it got")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    locomo = args.data / f"{args.conv}.json"
    if not locomo.is_file():
        print(f"glassmind: no LoCoMo conversation at {locomo}: pass --data DIR.", file=sys.stderr)
        return 2
    result = run(locomo, floor=not args.no_floor)
    if args.show:
        for r in result["rows"]:
            if r["part"] == args.show:
                print(
                    f"{'NEED' if r['needs_memory'] else 'none'} {r['tokens']:>4} tok {r['memories']:>2} mem "
                    f"dense {r['best_dense']!s:>7} words {r['best_distinctive']}  {r['text'][:60]!r}  {r['top']}"
                )
    rows = result.pop("rows")
    if args.json:
        print(json.dumps({**result, "by_kind": _by_kind(rows)}))
        return 0
    print(f"Memory tokens in the window (budget {result['budget']}, floor {'on' if result['floor'] else 'off'})")
    for part in PARTS:
        no, need = result[part]["no_memory"], result[part]["needs_memory"]
        print(
            f"  {part:<6} need none ({no['messages']}): median {no['median_tokens']} tokens, "
            f"{no['share_with_none']:.0%} with none · need some ({need['messages']}): median "
            f"{need['median_tokens']} tokens, {need['share_with_some']:.0%} with some"
        )
    return 0


def _by_kind(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    kinds = sorted({r["kind"] for r in rows})
    return {k: _summary([r for r in rows if r["kind"] == k]) for k in kinds}


if __name__ == "__main__":
    raise SystemExit(main())
