"""Precision and recall of suggested notes on a labelled set (bench/data/suggestions.jsonl).

Each snippet is one user message and the facts a careful assistant would keep from it (none for a
question, small talk, an instruction, a hypothetical, reported speech or a passing state). The set has
two parts: "tune", looked at while the extractor was written, and "frozen", written before it and never
tuned on; figures are given for each. Three systems per model: the model-free extractor alone
(``assistant.note_extractor``), the model alone (the app's own call: grammar-constrained JSON, then the
filters), and both merged as the app does (``assistant.suggestions.merge`` and ``classify``: doubles
within a message kept once). A suggested note matches a
labelled fact when their all-MiniLM-L6-v2 cosine similarity is at least ``--threshold`` (0.75 by
default: "lives in Leeds" / "lives in Bristol" is 0.76, "peanut allergy" / "allergic to peanuts" 0.93),
matched one to one, best pairs first. Also reported: the model's raw facts before the app's filters
(for the messages the app reads: those with a first-person word).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant import paths
from assistant.note_checks import instruction_reason
from assistant.store import Message
from assistant.suggestions import (
    ANSWER_TOKENS,
    Candidate,
    classify,
    merge,
    parse_answer,
    prompt,
    read_statements,
    schema,
    worth_reading,
)
from models.embedder import Embedder
from models.llama import ChatModel
from models.registry import ModelRegistry

DATA = Path(__file__).parent / "data" / "suggestions.jsonl"
THRESHOLD = 0.75
PARTS = ("tune", "frozen")
EXTRACTOR = "extractor (no model)"


def load(path: Path = DATA) -> list[dict[str, Any]]:
    """The snippets; one without a "part" (an older file) is in the tune part."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for row in rows:
        row.setdefault("part", "tune")
    return rows


# The labels speak of "the user"; a note in the user's own words ("I'm allergic to peanuts") says the same
# fact in the first person. Both sides are put in the third person before they are compared, so that the
# grammatical person is not counted as a miss ("I have type 1 diabetes" / "The user has type 1 diabetes":
# 0.71 as written, above 0.9 so). Figures as written are reported too ("literal").
_PERSON = (
    (r"\b(i'm|i am|im)\b", "the user is"), (r"\bi've\b", "the user has"), (r"\bi'd\b", "the user would"),
    (r"\bi'll\b", "the user will"), (r"\bi have\b", "the user has"), (r"\b(we're|we are)\b", "the user is"),
    (r"\b(we've|we have)\b", "the user has"), (r"\b(i|we)\b", "the user"), (r"\b(my|our)\b", "the user's"),
    (r"\b(me|us)\b", "the user"), (r"\b(mine|ours)\b", "the user's"), (r"\b(myself|ourselves)\b", "themselves"),
)


def third_person(text: str) -> str:
    """``text`` with the user's first-person words as "the user" ("I'm" -> "the user is", "my" -> "the user's")."""
    text = text.replace("\u2019", "'")
    for pattern, repl in _PERSON:
        text = re.sub(pattern, repl, text, flags=re.IGNORECASE)
    return text


def matches(predicted: Sequence[str], gold: Sequence[str], embedder: Embedder, threshold: float, *,
            literal: bool = False) -> int:
    """How many predictions match a labelled fact, one to one, best similarity first."""
    if not predicted or not gold:
        return 0
    if not literal:
        predicted, gold = [third_person(p) for p in predicted], [third_person(g) for g in gold]
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


class Tally:
    """Suggested and matched notes of one system on one part of the set."""

    def __init__(self) -> None:
        self.snippets = 0
        self.gold = 0
        self.pred = 0
        self.tp = 0
        self.tp_literal = 0
        self.noise = 0  # suggestions for snippets with nothing worth keeping
        self.flagged = 0  # suggestions shown with a flag (never approved unseen)

    def add(self, predicted: Sequence[str], gold: Sequence[str], embedder: Embedder, threshold: float) -> None:
        self.snippets += 1
        self.gold += len(gold)
        self.pred += len(predicted)
        self.tp += matches(predicted, gold, embedder, threshold)
        self.tp_literal += matches(predicted, gold, embedder, threshold, literal=True)
        self.noise += 0 if gold else len(predicted)
        self.flagged += sum(1 for p in predicted if instruction_reason(p))

    def report(self) -> dict[str, Any]:
        # One-to-one matching: matched predictions == matched labelled facts.
        return {
            "snippets": self.snippets,
            "labelled_facts": self.gold,
            "suggested": self.pred,
            "matched": self.tp,
            **_scores(self.tp, self.pred, self.tp, self.gold),
            "suggestions_on_nothing_to_keep": self.noise,
            "flagged": self.flagged,
            "literal": {"matched": self.tp_literal, **_scores(self.tp_literal, self.pred, self.tp_literal, self.gold)},
        }


def _scores(tp_p: int, n_pred: int, tp_g: int, n_gold: int) -> dict[str, float | None]:
    precision = tp_p / n_pred if n_pred else None
    recall = tp_g / n_gold if n_gold else None
    f1 = 2 * precision * recall / (precision + recall) if precision and recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def _tallies() -> dict[str, Tally]:
    return {part: Tally() for part in PARTS}


def _message(s: dict[str, Any]) -> Message:
    return Message(s["id"], 0, "user", s["message"], "")


def run_extractor(snippets: list[dict[str, Any]], embedder: Embedder, threshold: float) -> dict[str, Any]:
    tallies = _tallies()
    examples: list[dict[str, Any]] = []
    for s in snippets:
        texts = [c.text for c, _ in classify(read_statements(_message(s)), [], [], embedder.encode)]
        tallies[s["part"]].add(texts, s["facts"], embedder, threshold)
        if len(examples) < 6 and texts and s["part"] == "tune":
            examples.append({"message": s["message"], "suggested": texts, "labelled": s["facts"]})
    return {"model": EXTRACTOR, "system": "extractor", "parts": _parts(tallies), "examples": examples}


def run_model(path: Path | str, snippets: list[dict[str, Any]], embedder: Embedder, threshold: float
              ) -> list[dict[str, Any]]:
    """The model alone, and merged with the extractor, from the same model calls."""
    path = Path(path)
    model = ChatModel(path, n_ctx=2048)
    seconds: list[float] = []
    failed = 0
    skipped = 0
    alone, merged, raw = _tallies(), _tallies(), _tallies()
    examples: list[dict[str, Any]] = []
    try:
        for n, s in enumerate(snippets, 1):
            message = _message(s)
            found = read_statements(message)
            proposed: list[Candidate] = []
            raw_texts: list[str] = []
            if not worth_reading(message.content):  # the app asks the model nothing here
                skipped += 1
            else:
                started = time.perf_counter()
                answer = model.complete_json(prompt(message.content), schema([1]), max_tokens=ANSWER_TOKENS)
                seconds.append(time.perf_counter() - started)
                print(f"\r{path.name}: snippet {n} of {len(snippets)}, {seconds[-1]:.1f} s", end="",
                      file=sys.stderr, flush=True)
                if answer is None:
                    failed += 1
                else:
                    facts = answer.get("facts", []) if isinstance(answer, dict) else []
                    raw_texts = [str(f.get("text", "")) for f in facts if isinstance(f, dict) and f.get("text")]
                    proposed = parse_answer(answer, {1: message})
            both = [c.text for c, _ in classify(merge(found, proposed), [], [], embedder.encode)]
            part = s["part"]
            raw[part].add(raw_texts, s["facts"], embedder, threshold)
            alone[part].add([c.text for c in proposed], s["facts"], embedder, threshold)
            merged[part].add(both, s["facts"], embedder, threshold)
            if len(examples) < 6 and proposed and part == "tune":
                examples.append({"message": s["message"], "suggested": [c.text for c in proposed],
                                 "labelled": s["facts"]})
    finally:
        model.close()
        print(file=sys.stderr)
    calls = {
        "unparsed_or_cut": failed,
        "not_read": skipped,  # no first-person word: no model call
        "seconds_per_call": {
            "mean": round(statistics.mean(seconds), 2) if seconds else None,
            "median": round(statistics.median(seconds), 2) if seconds else None,
            "max": round(max(seconds), 2) if seconds else None,
        },
    }
    return [
        {"model": path.name, "system": "model", "parts": _parts(alone),
         "raw": {p: {k: v for k, v in t.report().items() if k in ("suggested", "matched", "precision", "recall")}
                 for p, t in raw.items() if t.snippets},
         **calls, "examples": examples},
        {"model": f"{EXTRACTOR} + {path.name}", "system": "merged", "parts": _parts(merged)},
    ]


def _parts(tallies: dict[str, Tally]) -> dict[str, Any]:
    return {part: t.report() for part, t in tallies.items() if t.snippets}


def main(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="glassmind bench suggestions", description=__doc__.split("\n")[0])
    p.add_argument("--model", action="append", metavar="PATH_OR_NAME", help="a registry name or GGUF (repeatable); "
                   "default: the bundled model")
    p.add_argument("--no-model", action="store_true", help="the extractor alone (no chat model is loaded)")
    p.add_argument("--part", choices=(*PARTS, "all"), default="all", help="which part of the set (default: all)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, help="cosine similarity for a match (0.75)")
    p.add_argument("--limit", type=int, help="only the first N snippets (of the part)")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(list(argv))
    snippets = [s for s in load(args.data) if args.part in ("all", s["part"])][: args.limit]
    embedder = Embedder()
    embedder.load()
    results = [run_extractor(snippets, embedder, args.threshold)]
    if not args.no_model:
        registry = ModelRegistry(paths.data_dir())
        for name in args.model or [None]:
            entry = registry.resolve(name)
            if entry.error:
                print(f"glassmind: {entry.error}", file=sys.stderr)
                return 1
            results.extend(run_model(entry.path, snippets, embedder, args.threshold))
    report = {"threshold": args.threshold, "data": str(args.data.name), "load": _load(), "models": results}
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        for r in results:
            for part, f in r["parts"].items():
                print(f"{r['model']} [{part}]: precision {_pct(f['precision'])}, recall {_pct(f['recall'])} "
                      f"({f['matched']}/{f['suggested']} suggested, {f['labelled_facts']} labelled, "
                      f"{f['suggestions_on_nothing_to_keep']} on nothing to keep, {f['flagged']} flagged)")
            if r["system"] == "model":
                print(f"  {r['seconds_per_call']['median']} s per model call (median), "
                      f"{r['unparsed_or_cut']} unparsed, {r['not_read']} not read")
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
