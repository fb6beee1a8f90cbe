"""What llama.cpp's extra weight buffers (repacked weights: AMX, and AVX2/AVX-512 repacking of some quant
types) are worth on this CPU: prompt reading and decode speed with them on and off.

Glassmind keeps them on wherever they are safe and turns them off where they crash (models/load_check.py);
this measures what "off" costs. Raw llama-cpp-python, cold, on the same prompt; the two settings alternate
(on, off, on, off, ...) and medians are reported.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from typing import Any

from bench.raw import raw_generation
from models.llama import ChatModel
from models.load_check import cpu_has_amx, cpu_identity
from models.registry import bundled_model_path

PROMPT = (
    "Here are my notes from the garden this year. The tomatoes did well on the south wall, the beans were "
    "eaten by slugs twice, and the courgettes produced more than we could eat. "
)


def run(model_path: str | None, *, repeats: int, prompt_tokens: int, max_tokens: int) -> dict[str, Any]:
    path = model_path or str(bundled_model_path())
    model = ChatModel(path, n_ctx=prompt_tokens + max_tokens + 64, n_gpu_layers=0)
    try:
        unit = model.tokenize(PROMPT)
        tokens = (unit * (prompt_tokens // len(unit) + 1))[:prompt_tokens]
        threads, threads_batch, n_ctx = model.n_threads, model.n_threads_batch, model.n_ctx
        safe = model.load_options.extra_bufts  # where "on" crashes, only "off" is measured
    finally:
        model.close()
    runs: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    for _ in range(repeats):
        for on in (True, False) if safe else (False,):
            runs[on].append(raw_generation(
                path, tokens, n_ctx=n_ctx, max_tokens=max_tokens, n_threads=threads, n_threads_batch=threads_batch,
                extra_bufts=on,
            ))
    result: dict[str, Any] = {
        "model": path.rsplit("/", 1)[-1], "cpu": cpu_identity().split(" [")[0], "amx": cpu_has_amx(),
        "prompt_tokens": prompt_tokens, "max_tokens": max_tokens, "repeats": repeats,
        "threads": [threads, threads_batch],
    }
    for on, label in ((True, "on"), (False, "off")):
        if runs[on]:
            result[label] = {
                "prompt_tps": round(statistics.median(prompt_tokens / r["ttft_s"] for r in runs[on]), 1),
                "decode_tps": round(statistics.median(r["decode_tps"] for r in runs[on]), 1),
            }
    if "on" in result:
        result["off_vs_on"] = {k: round(result["off"][k] / result["on"][k], 3) for k in ("prompt_tps", "decode_tps")}
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="glassmind bench buffers", description=__doc__)
    parser.add_argument("--model", help="GGUF path (default: the bundled model)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--prompt-tokens", type=int, default=512)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result = run(args.model, repeats=args.repeats, prompt_tokens=args.prompt_tokens, max_tokens=args.max_tokens)
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{result['model']} on {result['cpu']} (AMX: {'yes' if result['amx'] else 'no'}), "
          f"{result['prompt_tokens']}-token prompt, {result['max_tokens']} tokens, median of {result['repeats']}")
    for label in ("on", "off"):
        if label in result:
            r = result[label]
            print(f"  extra buffers {label:>3}: prompt {r['prompt_tps']:>7.1f} tokens/s, "
                  f"decode {r['decode_tps']:>6.1f} tokens/s")
        else:
            print(f"  extra buffers {label:>3}: not measured (they crash on this CPU)")
    if "off_vs_on" in result:
        print(f"  off / on: prompt {result['off_vs_on']['prompt_tps']}x, decode {result['off_vs_on']['decode_tps']}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
