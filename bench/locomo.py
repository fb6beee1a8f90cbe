"""Memory recall on LoCoMo: evidence turns retrieved within a token budget.

Each conversation is ingested as stored history (turns and session dates
only, never the dataset's summaries or observations) into its own data dir,
then every question but category 5 is asked of the app's own retriever.
Recall = share of a question's evidence ``dia_id``s whose turn is among the
retrieved memories, within 256 / 512 / 1024 tokens of the chat model's
tokenizer.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.memory import MemoryStore
from assistant.opening import open_store
from assistant.retrieval import Retriever
from models.embedder import Embedder

BUDGETS = (256, 512, 1024)
CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}


def parse_when(value: str | None) -> str | None:
    """An ISO timestamp from a LoCoMo session date ("1:56 pm on 8 May, 2023"); None when empty."""
    if not value:
        return None
    for fmt in ("%I:%M %p on %d %B, %Y", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return dt.datetime.strptime(value.strip(), fmt).replace(tzinfo=dt.UTC).isoformat(timespec="seconds")
        except ValueError:
            continue
    return value


def turns_of(conv: dict[str, Any]) -> list[dict[str, Any]]:
    """Every turn with its session date; only what a user's app would have seen."""
    out = []
    n = 1
    while f"session_{n}" in conv:
        when = parse_when(conv.get(f"session_{n}_date_time"))
        for turn in conv[f"session_{n}"]:
            # A text chat app stores what was typed. The dataset's machine-written photo captions
            # are used only for a turn with no text at all, as a stand-in for the photo.
            text = turn.get("text", "").strip()
            if not text and turn.get("blip_caption"):
                text = f"[shares a photo: {turn['blip_caption']}]"
            out.append({"dia_id": turn["dia_id"], "speaker": turn["speaker"], "text": text, "created": when})
        n += 1
    return out


def evidence_ids(raw: Sequence[str]) -> list[str]:
    ids: list[str] = []
    for entry in raw:
        ids += [x for x in re.split(r"[;,\s]+", str(entry)) if re.fullmatch(r"D\d+:\d+", x)]
    return list(dict.fromkeys(ids))


def ingest(data_dir: Path, embedder: Embedder, sample: dict[str, Any]) -> tuple[MemoryStore, dict[int, str], float]:
    store = open_store(paths.database_path(data_dir))
    memories = MemoryStore(store, embedder, paths.index_dir(data_dir))
    memories.open_index()
    turns = turns_of(sample)
    conv = store.create_conversation(f"{sample['speaker_a']} and {sample['speaker_b']}")
    start = time.perf_counter()
    message_ids = store.import_messages(
        conv.id, [{"role": "user", "content": t["text"], "created": t["created"]} for t in turns]
    )
    added = memories.add_many(
        [
            {
                "text": t["text"],
                "kind": "message",
                "source": "bench",
                "speaker": t["speaker"],
                "conversation_id": conv.id,
                "message_id": mid,
                "created": t["created"],
            }
            for t, mid in zip(turns, message_ids, strict=True)
        ]
    )
    elapsed = time.perf_counter() - start
    return memories, {m.id: t["dia_id"] for m, t in zip(added, turns, strict=True)}, len(turns) / elapsed


def ingest_cached(cache: Path, embedder: Embedder, path: Path) -> tuple[MemoryStore, dict[int, str], float | None]:
    """The conversation in ``path`` ingested into a data dir under ``cache`` that later runs reuse.

    Embedding a conversation is most of a run's time; a tuning loop over retrieval settings
    needs it once. The dir is named for the file's content, so an edited file is ingested
    anew. Returns the store, the memory id -> dia_id map and the ingest rate (None when reused).
    """
    raw = path.read_bytes()
    data_dir = cache / f"{path.stem}-{hashlib.sha256(raw).hexdigest()[:12]}"
    done = data_dir / "dia_of.json"
    if done.exists():
        store = open_store(paths.database_path(data_dir))
        memories = MemoryStore(store, embedder, paths.index_dir(data_dir))
        memories.open_index()
        return memories, {int(k): str(v) for k, v in json.loads(done.read_text()).items()}, None
    if data_dir.exists():  # an ingest that did not finish: start again
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    memories, dia_of, rate = ingest(data_dir, embedder, json.loads(raw))
    memories.flush()
    done.write_text(json.dumps({str(k): v for k, v in dia_of.items()}))
    return memories, dia_of, rate


def ingest_sessions(memories: MemoryStore, sample: dict[str, Any]) -> dict[int, str]:
    """The conversation as an imported chat history: one Glassmind conversation per session.
    Returns the memory id -> dia_id map."""
    store = memories.store
    turns = turns_of(sample)
    dia_of: dict[int, str] = {}
    for session in dict.fromkeys(t["dia_id"].split(":")[0] for t in turns):
        mine = [t for t in turns if t["dia_id"].split(":")[0] == session]
        conv = store.create_conversation(f"{sample['speaker_a']} and {sample['speaker_b']}, session {session[1:]}")
        rows = [{"role": "user", "content": t["text"], "created": t["created"]} for t in mine]
        ids = store.import_messages(conv.id, rows)
        added = memories.add_many(
            [
                {
                    "text": t["text"], "kind": "message", "source": "bench", "speaker": t["speaker"],
                    "conversation_id": conv.id, "message_id": mid, "created": t["created"],
                }
                for t, mid in zip(mine, ids, strict=True)
            ]
        )
        dia_of.update({m.id: t["dia_id"] for m, t in zip(added, mine, strict=True)})
    return dia_of


def run(
    data: Path,
    *,
    limit: int | None = None,
    conversations: Sequence[str] = (),
    progress: bool = True,
    settings: dict[str, Any] | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    from models.llama import ChatModel
    from models.registry import bundled_model_path

    tokenizer = ChatModel(bundled_model_path(), n_ctx=512)
    embedder = Embedder()
    embedder.load()
    files = sorted(data.glob("*.json"))
    if conversations:
        files = [f for f in files if f.stem in set(conversations)]
    if not files:
        named = f" named {', '.join(conversations)}" if conversations else ""
        raise SystemExit(f"No LoCoMo .json files{named} in {data}.")
    per_budget: dict[int, list[float]] = {b: [] for b in BUDGETS}
    per_cat: dict[str, dict[int, list[float]]] = defaultdict(lambda: {b: [] for b in BUDGETS})
    rates, latencies = [], []
    # Precision: of the tokens retrieved, how many are evidence turns; and questions given nothing.
    evidence_tokens = dict.fromkeys(BUDGETS, 0)
    retrieved_tokens = dict.fromkeys(BUDGETS, 0)
    empty = dict.fromkeys(BUDGETS, 0)
    for path in files:
        sample = json.loads(path.read_text())
        with tempfile.TemporaryDirectory(prefix="glassmind-locomo-") as tmp:
            rate: float | None
            if cache is None:
                memories, dia_of, rate = ingest(Path(tmp), embedder, sample)
            else:
                memories, dia_of, rate = ingest_cached(cache, embedder, path)
            if rate is not None:
                rates.append(rate)
            retriever = Retriever(memories, tokenizer.count_tokens, **(settings or {}))
            questions = [q for q in sample["qa"] if q.get("category") != 5][:limit]
            for q in questions:
                wanted = set(evidence_ids(q.get("evidence", [])))
                if not wanted:
                    continue
                for budget in BUDGETS:
                    t0 = time.perf_counter()
                    hits = retriever.retrieve(str(q["question"]), budget=budget).hits
                    latencies.append(time.perf_counter() - t0)
                    got = {dia_of.get(h.memory.id) for h in hits}
                    retrieved_tokens[budget] += sum(h.tokens for h in hits)
                    evidence_tokens[budget] += sum(h.tokens for h in hits if dia_of.get(h.memory.id) in wanted)
                    empty[budget] += not hits
                    recall = len(wanted & got) / len(wanted)
                    per_budget[budget].append(recall)
                    per_cat[CATEGORIES.get(q["category"], str(q["category"]))][budget].append(recall)
            memories.store.close()
        if progress:
            done = {b: sum(v) / len(v) for b, v in per_budget.items() if v}
            print(f"  {path.name}: {len(questions)} questions, running recall {done}", file=sys.stderr)
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else 0.0  # noqa: E731
    latencies.sort()
    return {
        "questions": len(per_budget[BUDGETS[0]]),
        "recall": {str(b): mean(v) for b, v in per_budget.items()},
        "by_category": {c: {str(b): mean(v) for b, v in d.items()} for c, d in sorted(per_cat.items())},
        "evidence_token_share": {
            str(b): round(evidence_tokens[b] / retrieved_tokens[b], 4) if retrieved_tokens[b] else 0.0 for b in BUDGETS
        },
        "questions_with_none": {str(b): empty[b] for b in BUDGETS},
        # None when every store came from --cache (nothing was ingested in this run).
        "ingest_messages_per_s": round(sum(rates) / len(rates), 1) if rates else None,
        "retrieval_p50_ms": round(1000 * latencies[len(latencies) // 2], 2),
        "retrieval_p95_ms": round(1000 * latencies[int(len(latencies) * 0.95)], 2),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench locomo", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data/locomo-dev"))
    parser.add_argument("--limit", type=int, help="questions per conversation (for a quick look)")
    parser.add_argument(
        "--conv", default="", help="only these conversations, by file name without .json (e.g. 26,30,41)"
    )
    parser.add_argument("--no-floor", action="store_true", help="without the relevance floor (as before issue #22)")
    parser.add_argument(
        "--cache", type=Path,
        help="keep each conversation's embedded store in this folder and reuse it in later runs (for tuning)",
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        print(f"glassmind: no LoCoMo data at {args.data}: pass --data DIR.", file=sys.stderr)
        return 2
    chosen = [c.strip() for c in args.conv.split(",") if c.strip()]
    settings: dict[str, Any] = {"floor": False} if args.no_floor else {}
    result = run(
        args.data, limit=args.limit, conversations=chosen, progress=not args.json, settings=settings, cache=args.cache
    )
    if args.json:
        print(json.dumps(result))
    else:
        print(f"LoCoMo evidence recall over {result['questions']} questions")
        print("  budget   " + "  ".join(f"{b:>6}" for b in BUDGETS))
        print("  all      " + "  ".join(f"{result['recall'][str(b)]:>6.3f}" for b in BUDGETS))
        for cat, vals in result["by_category"].items():
            print(f"  {cat:<8} " + "  ".join(f"{vals[str(b)]:>6.3f}" for b in BUDGETS))
        print("  evidence " + "  ".join(f"{result['evidence_token_share'][str(b)]:>6.3f}" for b in BUDGETS)
              + "  (share of retrieved tokens that are evidence)")
        print("  none     " + "  ".join(f"{result['questions_with_none'][str(b)]:>6}" for b in BUDGETS)
              + "  (questions given no memory)")
        if result["ingest_messages_per_s"] is None:
            print("  ingest: every store was reused from --cache")
        else:
            print(f"  ingest {result['ingest_messages_per_s']} messages/s (embedded and indexed)")
        print(
            f"  retrieval p50 {result['retrieval_p50_ms']} ms, p95 {result['retrieval_p95_ms']} ms "
            "(query embedding included)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
