"""Precision and recall of suggested notes on a small labelled set (bench/data/suggestions.jsonl).

Each snippet is one user message and the facts a careful assistant would keep from it (none for a
question or small talk). For each model, every message goes through the app's own suggestion call
(``assistant.suggestions``: grammar-constrained JSON, then the filters); a suggested note matches a
labelled fact when their all-MiniLM-L6-v2 cosine similarity is at least ``--threshold`` (0.75 by
default: "lives in Leeds" / "lives in Bristol" is 0.76, "peanut allergy" / "allergic to peanuts" 0.93),
matched one to one, best pairs first. Also reported: the model's raw facts before the app's filters
(for the messages the app reads: those with a first-person word).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.store import Message
from assistant.suggestions import ANSWER_TOKENS, parse_answer, prompt, schema, worth_reading
from models.embedder import Embedder
from models.llama import ChatModel
from models.registry import ModelRegistry

DATA = Path(__file__).parent / "data" / "suggestions.jsonl"
THRESHOLD = 0.75


def load(path: Path = DATA) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def matches(predicted: Sequence[str], gold: Sequence[str], embedder: Embedder, threshold: float) -> int:
    """How many predictions match a labelled fact, one to one, best similarity first."""
    if not predicted or not gold:
        return 0
    sims = embedder.encode(list(predicted)) @ embedder.encode(list(gold)).T
    pairs = sorted(((float(sims[i, j]), i, j) for i in range(len(predicted)) for j in range(len(gold))), reverse=True)
    used_p: set[int] = set()
    used_g: set[int] = set()
    for sim, i, j in pairs:
        if sim < threshold:
            break
        if i not in used_p and j not in used_g:
            used_p.add(i)
            used_g.add(j)
    return len(used_p)


def _scores(tp_p: int, n_pred: int, tp_g: int, n_gold: int) -> dict[str, float | None]:
    precision = tp_p / n_pred if n_pred else None
    recall = tp_g / n_gold if n_gold else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def run_model(path: Path | str, snippets: list[dict[str, Any]], embedder: Embedder, threshold: float) -> dict[str, Any]:
    path = Path(path)
    model = ChatModel(path, n_ctx=2048)
    seconds: list[float] = []
    failed = 0
    skipped = 0
    kept = {"tp": 0, "pred": 0}
    raw = {"tp": 0, "pred": 0}
    noise_kept = 0  # suggestions made for snippets with nothing worth keeping
    n_gold = sum(len(s["facts"]) for s in snippets)
    examples: list[dict[str, Any]] = []
    try:
        for s in snippets:
            message = Message(s["id"], 0, "user", s["message"], "")
            if not worth_reading(message.content):  # the app asks the model nothing here
                skipped += 1
                continue
            started = time.perf_counter()
            answer = model.complete_json(prompt(message.content), schema([1]), max_tokens=ANSWER_TOKENS)
            seconds.append(time.perf_counter() - started)
            print(f"\r{path.name}: snippet {s['id']} of {len(snippets)}, {seconds[-1]:.1f} s", end="",
                  file=sys.stderr, flush=True)
            if answer is None:
                failed += 1
                continue
            facts = answer.get("facts", []) if isinstance(answer, dict) else []
            raw_texts = [str(f.get("text", "")) for f in facts if isinstance(f, dict) and f.get("text")]
            texts = [c.text for c in parse_answer(answer, {1: message})]
            for bucket, predicted in ((raw, raw_texts), (kept, texts)):
                bucket["pred"] += len(predicted)
                bucket["tp"] += matches(predicted, s["facts"], embedder, threshold)
            if not s["facts"]:
                noise_kept += len(texts)
            if len(examples) < 6 and texts:
                examples.append({"message": s["message"], "suggested": texts, "labelled": s["facts"]})
    finally:
        model.close()
    # One-to-one matching: matched predictions == matched labelled facts.
    out: dict[str, Any] = {
        "model": path.name,
        "snippets": len(snippets),
        "labelled_facts": n_gold,
        "suggested": kept["pred"],
        "matched": kept["tp"],
        **_scores(kept["tp"], kept["pred"], kept["tp"], n_gold),
        "raw": {"facts": raw["pred"], "matched": raw["tp"], **_scores(raw["tp"], raw["pred"], raw["tp"], n_gold)},
        "suggestions_on_nothing_to_keep": noise_kept,
        "unparsed_or_cut": failed,
        "not_read": skipped,  # no first-person word: no model call
        "seconds_per_call": {
            "mean": round(statistics.mean(seconds), 2) if seconds else None,
            "median": round(statistics.median(seconds), 2) if seconds else None,
            "max": round(max(seconds), 2) if seconds else None,
        },
        "examples": examples,
    }
    return out


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="glassmind bench suggestions", description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", metavar="PATH_OR_NAME", help="a registry name or GGUF (repeatable); "
                   "default: the bundled model")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="cosine similarity for a match (0.75)")
    p.add_argument("--limit", type=int, help="only the first N snippets")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(list(argv))
    snippets = load(args.data)[: args.limit]
    embedder = Embedder()
    embedder.load()
    registry = ModelRegistry(paths.data_dir())
    results = []
    for name in args.model or [None]:
        entry = registry.resolve(name)
        if entry.error:
            print(f"glassmind: {entry.error}", file=sys.stderr)
            return 1
        results.append(run_model(entry.path, snippets, embedder, args.threshold))
    report = {"threshold": args.threshold, "data": str(args.data.name), "load": _load(), "models": results}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for r in results:
            print(f"{r['model']}: precision {_pct(r['precision'])}, recall {_pct(r['recall'])} "
                  f"({r['matched']}/{r['suggested']} suggested, {r['labelled_facts']} labelled); raw model facts: "
                  f"precision {_pct(r['raw']['precision'])}, recall {_pct(r['raw']['recall'])}; "
                  f"{r['seconds_per_call']['median']} s per call (median)")
    return 0


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _load() -> list[float] | None:
    try:
        import os

        return [round(x, 2) for x in os.getloadavg()]
    except (OSError, AttributeError):
        return None


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
