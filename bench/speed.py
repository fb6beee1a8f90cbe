"""Speed of a full app turn against raw llama-cpp-python on the same prompt, the app's own overhead,
KV-cache reuse, and the head start that prefill-while-typing gives.

(a) raw: llama-cpp-python's own streaming completion on the final prompt's tokens, cold;
(b) app: a whole turn (store the message, embed the query, retrieve, assemble
the window, generate), timed from the call to the first streamed token, cold.
The query's embedding runs on the embedder's thread while the turn stores its
message and builds the window; with read-ahead (``--read-ahead``, on a GPU by
default) the model also reads the prompt's history meanwhile.
Runs alternate and medians are reported.
Overhead: the app's time to first token minus the time spent inside llama.cpp
(eval and sample), split into embed / retrieve / tokenize / assemble; per token,
the Python time between llama.cpp calls beyond what raw streaming spends.
Then a scripted 20-turn conversation with retrieval on counts the prompt tokens
llama.cpp re-evaluated each turn against the tokens new in that turn, and the
overhead per turn. Last, typing: the draft is prefilled (as the window does while
the user types), then sent; its time to first token is compared with raw cold.
``--busy`` runs it all beside a CPU-bound process that it starts and stops.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from assistant.app import Assistant, ContextReady, Finished, Token
from bench.raw import Clock, LlamaClock, raw_generation
from models.llama import ChatModel

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
TYPED = [
    "Can you write me a detailed watering schedule for every plant we talked about, week by week?",
    "Please explain, step by step, how to repot the lemon tree when it outgrows its pot.",
    "What would a full month of balcony chores look like, day by day, for a beginner?",
]


def _local(app: Assistant) -> ChatModel:
    """The app's model, run here (this benchmark times llama.cpp in this process; --served times a server)."""
    model = app.model
    assert isinstance(model, ChatModel), "bench speed without --served needs a local model"
    return model


class _Probe:
    """The clocks of one app: llama.cpp's time, tokenizing, and storing the message."""

    def __init__(self, app: Assistant) -> None:
        model = _local(app)
        self.native = LlamaClock(model._llm)
        self.tokenize = Clock()
        for name in ("tokenize_parts", "count_tokens", "tokenize"):
            self.tokenize.wrap(model, name)
        self.store = Clock()
        self.store.wrap(app, "_store_user_message")


def _app_turn(app: Assistant, probe: _Probe, conv: int | None, text: str) -> dict[str, Any]:
    native0, tok0, store0 = probe.native.total, probe.tokenize.total, probe.store.total
    start = time.perf_counter()
    ready = first = last = None
    native_first = native_last = 0.0
    window = None
    usage = None
    for event in app.turn(conv, text):
        if isinstance(event, ContextReady):
            ready = time.perf_counter()
            window = event.window
            conv = event.user_message.conversation_id
            tokenize_s = probe.tokenize.total - tok0
        elif isinstance(event, Token):
            last, native_last = time.perf_counter(), probe.native.total
            if first is None:
                first, native_first = last, native_last
        elif isinstance(event, Finished):
            usage = event.usage
    assert window is not None and usage is not None and first is not None and last is not None and ready
    ttft = first - start
    overhead = ttft - (native_first - native0)
    retrieval = window.retrieval
    # The query's embedding runs on the embedder's thread while the turn stores its message and
    # builds the window: its own time, and the part of it the turn waited for.
    embed = retrieval.embed_s if retrieval else 0.0
    waited = retrieval.waited_s if retrieval else 0.0
    search = retrieval.search_s if retrieval else 0.0
    store = probe.store.total - store0
    n = usage.completion_tokens
    python_decode = (last - first) - (native_last - native_first)
    return {
        "conv": conv,
        "window": window,
        "usage": usage,
        "ttft_s": ttft,
        "decode_tps": (n - 1) / (last - first) if last > first else 0.0,
        "overhead_ms": 1000 * overhead,
        "embed_ms": 1000 * embed,
        "embed_wait_ms": 1000 * waited,
        "overhead_ex_embed_ms": 1000 * (overhead - embed),
        "retrieve_ms": 1000 * search,
        "tokenize_ms": 1000 * tokenize_s,
        "store_ms": 1000 * store,
        "assemble_ms": 1000 * ((ready - start) - waited - search - tokenize_s - store),
        "python_ms_per_token": 1000 * python_decode / (n - 1) if n > 1 else 0.0,
    }


def _raw(app: Assistant, tokens: Sequence[int], max_tokens: int) -> dict[str, float]:
    model = _local(app)
    return raw_generation(
        app.model_entry().path,
        tokens,
        n_ctx=model.n_ctx,
        max_tokens=max_tokens,
        n_gpu_layers=model.gpu_layers,
        n_threads=model.n_threads,
        n_threads_batch=model.n_threads_batch,
        flash_attn=model.flash_attn,
        extra_bufts=model.load_options.extra_bufts,
    )


@contextlib.contextmanager
def _busy(on: bool) -> Iterator[None]:
    """A competing CPU-bound process for the duration (one busy core)."""
    proc = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if on else None
    try:
        yield
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()


def run(
    model: str | None,
    *,
    repeats: int,
    max_tokens: int,
    n_ctx: int,
    gpu_layers: int | None = None,
    threads: int = 0,
    turns: int = len(SCRIPT),
    notes: int = 200,
    read_ahead: bool | None = None,
) -> dict[str, Any]:
    med: Callable[..., float] = statistics.median
    with tempfile.TemporaryDirectory(prefix="glassmind-speed-") as tmp:
        app = Assistant(Path(tmp))
        s = app.settings
        s.model, s.n_ctx, s.gpu_layers, s.threads = model, n_ctx, gpu_layers, threads
        s.max_tokens, s.temperature = max_tokens, 0.0
        app.read_ahead = read_ahead
        app.open_memory()
        # Some stored memory, so the app turn really retrieves.
        app.memories.add_many(
            [{"text": f"Note {i}: the garden plot {i} gets {i % 7} hours of sun."} for i in range(notes)]
        )
        entry = app.model_entry()
        app.load_model()
        probe = _Probe(app)
        # One untimed turn first: the first run in a process pages the weights in (and on a GPU,
        # warms its kernels), which raw llama-cpp-python, loaded later, would not pay.
        for _ in app.turn(None, QUESTION):
            pass
        raw_runs, app_runs = [], []
        for _ in range(repeats):
            app.model.reset_cache()
            result = _app_turn(app, probe, None, QUESTION)
            app_runs.append(result)
            raw_runs.append(_raw(app, result["window"].tokens, result["usage"].completion_tokens))
        raw = {k: med(r[k] for r in raw_runs) for k in ("ttft_s", "decode_tps", "python_ms_per_token")}
        mine = {k: med(r[k] for r in app_runs) for k in ("ttft_s", "decode_tps", "python_ms_per_token")}

        # KV-cache reuse and the app's overhead over a scripted conversation with retrieval on.
        app.model.reset_cache()
        conv = None
        ratios, per_turn, script_runs = [], [], []
        prev_reply_tokens = 0
        for i, text in enumerate(SCRIPT[:turns]):
            r = _app_turn(app, probe, conv, text)
            script_runs.append(r)
            conv = r["conv"]
            usage, window = r["usage"], r["window"]
            fresh = sum(it.tokens for it in window.items if it.included and it.kind in ("memory", "message"))
            fresh += prev_reply_tokens
            evaluated = usage.evaluated_tokens
            if i > 0:
                ratios.append(evaluated / max(1, fresh))
            per_turn.append({"prompt": usage.prompt_tokens, "evaluated": evaluated, "new": fresh})
            prev_reply_tokens = app.model.count_tokens(app.store.messages(conv)[-1].content)

        # Typing: the window prefills the draft's stable prefix (KV cache cold before it, as after
        # opening the conversation), then the user sends; raw llama.cpp reads the whole prompt cold.
        typing_app, typing_raw, prefilled, typing_overhead = [], [], [], []
        for text in TYPED[: max(1, min(repeats, len(TYPED)))]:
            app.model.reset_cache()
            prefilled.append(app.prefill(conv, text))
            r = _app_turn(app, probe, conv, text)
            typing_app.append(r["ttft_s"])
            typing_overhead.append(r["overhead_ms"])
            typing_raw.append(_raw(app, r["window"].tokens, 1)["ttft_s"])
        backend = app.model.backend
        threads_used = (_local(app).n_threads, _local(app).n_threads_batch)
        flash = _local(app).flash_attn
        reads_ahead = read_ahead if read_ahead is not None else app.model.gpu_layers > 0
        app.close()
    all_runs = app_runs + script_runs
    by_turn = [round(r["overhead_ms"], 2) for r in script_runs]
    return {
        "model": entry.name,
        "backend": backend,
        "n_threads": threads_used[0],
        "n_threads_batch": threads_used[1],
        "flash_attn": flash,
        "read_ahead": reads_ahead,
        "raw": {k: round(v, 4) for k, v in raw.items()},
        "app": {k: round(v, 4) for k, v in mine.items()},
        "ttft_ratio": round(mine["ttft_s"] / raw["ttft_s"], 3),
        "decode_ratio": round(mine["decode_tps"] / raw["decode_tps"], 3) if raw["decode_tps"] else None,
        "reeval_ratio": round(sum(ratios) / len(ratios), 3) if ratios else None,
        "typing_ttft_ratio": round(med(typing_app) / med(typing_raw), 3),
        "typing": {
            "app_ttft_s": round(med(typing_app), 4),
            "raw_cold_ttft_s": round(med(typing_raw), 4),
            "prefilled_tokens": prefilled,
            # The send's own time: the previewed window is reused (nothing changed since the preview).
            "overhead_ms": round(med(typing_overhead), 2),
        },
        "overhead_ms": round(med(r["overhead_ms"] for r in all_runs), 2),
        **{
            k: round(med(r[k] for r in all_runs), 2)
            for k in (
                "overhead_ex_embed_ms", "embed_ms", "embed_wait_ms", "retrieve_ms", "tokenize_ms", "assemble_ms",
                "store_ms",
            )
        },
        "per_token_overhead_ms": round(mine["python_ms_per_token"] - raw["python_ms_per_token"], 4),
        "overhead_ms_by_turn": by_turn,
        # The same without the query embedding (a model's forward pass, not bookkeeping).
        "overhead_ex_embed_ms_by_turn": [round(r["overhead_ex_embed_ms"], 2) for r in script_runs],
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
    parser.add_argument("--threads", type=int, default=0, help="decode threads (0: the app's automatic choice)")
    parser.add_argument(
        "--read-ahead", choices=("auto", "on", "off"), default="auto",
        help="read the prompt's history while the query is embedded (auto: on a GPU only)",
    )
    parser.add_argument("--busy", action="store_true", help="run beside a CPU-bound process (started and stopped here)")
    parser.add_argument("--quick", action="store_true", help="a minimal run that only checks the figures are produced")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--served", metavar="URL",
                        help="a model server instead (bench/served_speed.py): the app against a bare HTTP client")
    parser.add_argument("--key-env", metavar="VAR", help="with --served: the environment variable holding its API key")
    parser.add_argument("--turns", type=int, default=len(SCRIPT), help="with --served: turns of the scripted chat")
    args = parser.parse_args(argv)
    if args.served:
        from bench import served_speed

        quick = {"repeats": 1, "max_tokens": 4, "turns": 2, "notes": 3} if args.quick else {}
        served = served_speed.run(args.served, key_env=args.key_env, **{
            "repeats": args.repeats, "max_tokens": args.max_tokens, "turns": args.turns, "notes": 200, **quick,
        })
        if args.json:
            print(json.dumps(served))
        else:
            served_speed.report(served)
        return 0
    options: dict[str, Any] = {"repeats": args.repeats, "max_tokens": args.max_tokens, "n_ctx": args.n_ctx}
    options["read_ahead"] = {"auto": None, "on": True, "off": False}[args.read_ahead]
    if args.quick:
        options = {**options, "repeats": 1, "max_tokens": 2, "n_ctx": 1024, "turns": 2, "notes": 3}
    with _busy(args.busy):
        result = run(args.model, gpu_layers=args.gpu_layers, threads=args.threads, **options)
    result["busy"] = args.busy
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['model']} on {result['backend']}, prompt {result['prompt_tokens']} tokens, "
        f"{result['n_threads']}/{result['n_threads_batch']} threads{', beside a busy process' if args.busy else ''}, "
        f"read-ahead {'on' if result['read_ahead'] else 'off'}"
    )
    print(
        f"  raw llama-cpp-python: first token {result['raw']['ttft_s'] * 1000:.0f} ms, "
        f"{result['raw']['decode_tps']:.1f} tokens/s"
    )
    print(
        f"  Glassmind app turn:   first token {result['app']['ttft_s'] * 1000:.0f} ms, "
        f"{result['app']['decode_tps']:.1f} tokens/s"
    )
    print(
        f"  ratios: time to first token {result['ttft_ratio']}x, decode {result['decode_ratio']}x, "
        f"typed then sent {result['typing_ttft_ratio']}x of a cold llama.cpp"
    )
    print(
        f"  app overhead per turn {result['overhead_ms']} ms, {result['overhead_ex_embed_ms']} beyond the "
        f"query's embedding (embed {result['embed_ms']}, waited for {result['embed_wait_ms']}; "
        f"retrieve {result['retrieve_ms']}, "
        f"tokenize {result['tokenize_ms']}, assemble {result['assemble_ms']}, store {result['store_ms']}); "
        f"per token {result['per_token_overhead_ms']} ms"
    )
    print(f"  20-turn chat: re-evaluated / new prompt tokens per turn = {result['reeval_ratio']}x")
    for i, (t, o) in enumerate(zip(result["turns"], result["overhead_ms_by_turn"], strict=True), 1):
        print(
            f"    turn {i:>2}: prompt {t['prompt']:>5}  re-evaluated {t['evaluated']:>5}  new {t['new']:>5}  "
            f"overhead {o:>6.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
