"""Speed of a full app turn against raw llama-cpp-python on the same prompt, and KV-cache reuse.

(a) raw: llama-cpp-python's own streaming completion on the final prompt's tokens;
(b) app: a whole turn (store the message, embed the query, retrieve, assemble
the window, generate), timed from the call to the first streamed token.
Both start from an empty KV cache; runs alternate and medians are reported.
Then a scripted 20-turn conversation with retrieval on counts the prompt
tokens llama.cpp re-evaluated each turn against the tokens new in that turn.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.app import Assistant, ContextReady, Finished, Token
from models.llama import raw_generation

QUESTION = "Write a detailed, step by step guide to planting a vegetable garden in spring."
SCRIPT = [
    "Hi! I'm Sam and I just moved to a flat with a small balcony.",
    "I'd like to grow some herbs there. Which ones are easy?",
    "My balcony faces north, so it gets little sun.",
    "Does mint spread a lot?",
    "I also have a cat called Pixel who chews plants.",
    "Which herbs are safe for cats?",
    "What soil should I buy?",
    "How often should I water basil?",
    "I travel for work every other week.",
    "Could a self-watering pot help with that?",
    "My sister Jo gave me a lemon tree for my birthday.",
    "Can a lemon tree live on a north balcony?",
    "What should I feed it?",
    "Remind me, what is my cat's name?",
    "Which way does my balcony face?",
    "Let's plan: list what to buy this weekend.",
    "How much will that cost, roughly?",
    "Who gave me the lemon tree?",
    "Thanks. Any tips for winter?",
    "Summarise everything we talked about in three lines.",
]


def _app_turn(app: Assistant, conv: int | None, text: str) -> dict[str, Any]:
    start = time.perf_counter()
    first = last = None
    window = None
    usage = None
    n = 0
    for event in app.turn(conv, text):
        if isinstance(event, ContextReady):
            window = event.window
            conv = event.user_message.conversation_id
        elif isinstance(event, Token):
            last = time.perf_counter()
            first = first or last
            n += 1
        elif isinstance(event, Finished):
            usage = event.usage
    assert window is not None and usage is not None and first is not None and last is not None
    return {
        "conv": conv,
        "window": window,
        "usage": usage,
        "ttft_s": first - start,
        "decode_tps": (usage.completion_tokens - 1) / (last - first) if last > first else 0.0,
    }


def run(
    model: str | None, *, repeats: int, max_tokens: int, n_ctx: int, gpu_layers: int | None = None
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="glassmind-speed-") as tmp:
        app = Assistant(Path(tmp))
        app.settings.model = model
        app.settings.n_ctx = n_ctx
        app.settings.gpu_layers = gpu_layers
        app.settings.max_tokens = max_tokens
        app.settings.temperature = 0.0
        app.open_memory()
        # Some stored memory, so the app turn really retrieves.
        app.memories.add_many(
            [{"text": f"Note {i}: the garden plot {i} gets {i % 7} hours of sun."} for i in range(200)]
        )
        entry = app.model_entry()
        app.load_model()
        raw_runs, app_runs = [], []
        for _ in range(repeats):
            app.model.reset_cache()
            result = _app_turn(app, None, QUESTION)
            app_runs.append(result)
            raw_runs.append(
                raw_generation(
                    entry.path,
                    result["window"].tokens,
                    n_ctx=app.model.n_ctx,
                    max_tokens=result["usage"].completion_tokens,
                    n_gpu_layers=app.model.gpu_layers,
                )
            )
        med = statistics.median
        raw = {"ttft_s": med(r["ttft_s"] for r in raw_runs), "decode_tps": med(r["decode_tps"] for r in raw_runs)}
        mine = {"ttft_s": med(r["ttft_s"] for r in app_runs), "decode_tps": med(r["decode_tps"] for r in app_runs)}

        # KV-cache reuse over a scripted conversation with retrieval on.
        app.model.reset_cache()
        conv = None
        ratios, per_turn = [], []
        prev_reply_tokens = 0
        for i, text in enumerate(SCRIPT):
            r = _app_turn(app, conv, text)
            conv = r["conv"]
            usage, window = r["usage"], r["window"]
            fresh = sum(it.tokens for it in window.items if it.included and it.kind in ("memory", "message"))
            fresh += prev_reply_tokens
            evaluated = usage.evaluated_tokens
            if i > 0:
                ratios.append(evaluated / max(1, fresh))
            per_turn.append({"prompt": usage.prompt_tokens, "evaluated": evaluated, "new": fresh})
            prev_reply_tokens = app.model.count_tokens(app.store.messages(conv)[-1].content)
        backend = app.model.backend
        app.close()
    return {
        "model": entry.name,
        "backend": backend,
        "raw": {k: round(v, 4) for k, v in raw.items()},
        "app": {k: round(v, 4) for k, v in mine.items()},
        "ttft_ratio": round(mine["ttft_s"] / raw["ttft_s"], 3),
        "decode_ratio": round(mine["decode_tps"] / raw["decode_tps"], 3),
        "reeval_ratio": round(sum(ratios) / len(ratios), 3),
        "prompt_tokens": app_runs[0]["usage"].prompt_tokens,
        "turns": per_turn,
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench speed", description=__doc__)
    parser.add_argument("--model", help="registry name or GGUF path (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument(
        "--gpu-layers", type=int, help="layers to offload (default: all when the build has a GPU; 0: CPU)"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(
        args.model, repeats=args.repeats, max_tokens=args.max_tokens, n_ctx=args.n_ctx, gpu_layers=args.gpu_layers
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']} on {result['backend']}, prompt {result['prompt_tokens']} tokens")
    print(
        f"  raw llama-cpp-python: first token {result['raw']['ttft_s'] * 1000:.0f} ms, "
        f"{result['raw']['decode_tps']:.1f} tokens/s"
    )
    print(
        f"  Glassmind app turn:   first token {result['app']['ttft_s'] * 1000:.0f} ms, "
        f"{result['app']['decode_tps']:.1f} tokens/s"
    )
    print(f"  ratios: time to first token {result['ttft_ratio']}x, decode {result['decode_ratio']}x")
    print(f"  20-turn chat: re-evaluated / new prompt tokens per turn = {result['reeval_ratio']}x")
    for i, t in enumerate(result["turns"], 1):
        print(f"    turn {i:>2}: prompt {t['prompt']:>5}  re-evaluated {t['evaluated']:>5}  new {t['new']:>5}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
