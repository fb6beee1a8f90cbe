"""``glassmind bench speed --served URL``: a full app turn against a model server, compared in one run with
a bare HTTP client on the same server and the same prompt tokens, and the server's KV reuse across turns.

(a) bare: ``http.client`` alone, streaming ``/completion`` with the app's own prompt tokens (llama-server)
    or ``/v1/chat/completions`` with its messages (OpenAI-compatible), the server's cache erased first;
(b) app: a whole turn (store, embed, retrieve, assemble, generate) against the same server, cache erased.
Runs alternate and medians are reported. Then a scripted conversation counts the prompt tokens the server
re-read each turn (its ``cache_n``) against the tokens new in that turn.
"""

from __future__ import annotations

import http.client
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from assistant.app import Assistant, ContextReady, Finished, Token
from bench.speed import QUESTION, SCRIPT
from models.runtime import ChatRuntime
from models.servers import ServerEntry, ServerRegistry, probe


def _connection(url: str, timeout: float = 600.0) -> tuple[http.client.HTTPConnection, str]:
    parts = urlsplit(url if "://" in url else "http://" + url)
    cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    return cls(parts.hostname or "127.0.0.1", parts.port, timeout=timeout), parts.path.rstrip("/")


def erase_cache(url: str, api_key: str | None = None) -> bool:
    """Empty llama-server's slot 0 (``POST /slots/0?action=erase``), so the next prompt is read cold."""
    conn, base = _connection(url)
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    try:
        conn.request("POST", base + "/slots/0?action=erase", body=b"{}", headers=headers)
        ok = conn.getresponse().status == 200
    except OSError:
        ok = False
    finally:
        conn.close()
    return ok


def bare_generation(
    url: str, body: dict[str, Any], path: str, api_key: str | None = None
) -> dict[str, float]:
    """Stream one reply with http.client only: time to the first piece, pieces per second after it."""
    conn, base = _connection(url)
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    start = time.perf_counter()
    conn.request("POST", base + path, body=json.dumps(body).encode(), headers=headers)
    response = conn.getresponse()
    first = last = None
    n = 0
    for line in response:
        if not line.startswith(b"data:"):
            continue
        data = line[5:].strip()
        if data == b"[DONE]":
            break
        event = json.loads(data)
        piece = event.get("content")
        if piece is None:
            piece = "".join((c.get("delta") or {}).get("content") or "" for c in event.get("choices") or [])
        if piece:
            last = time.perf_counter()
            first = first or last
            n += 1
        if event.get("stop"):
            break
    conn.close()
    assert first is not None and last is not None, "the server wrote nothing"
    return {"ttft_s": first - start, "decode_tps": (n - 1) / (last - first) if last > first else 0.0,
            "pieces": float(n)}


def _app_turn(app: Assistant, conv: int | None, text: str) -> dict[str, Any]:
    start = time.perf_counter()
    first = last = None
    window = usage = None
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
    return {"conv": conv, "window": window, "usage": usage, "ttft_s": first - start,
            "decode_tps": (n - 1) / (last - first) if last > first else 0.0, "pieces": n}


def run(url: str, *, key_env: str | None, repeats: int, max_tokens: int, turns: int, notes: int,
        allow_plain_http: bool = False) -> dict[str, Any]:
    med = statistics.median
    api_key = os.environ.get(key_env) if key_env else None
    offer = probe(url, api_key=api_key, allow_plain_http=allow_plain_http)
    with tempfile.TemporaryDirectory(prefix="glassmind-served-speed-") as tmp:
        app = Assistant(Path(tmp))
        entry = ServerRegistry(app.data_dir).add(ServerEntry(
            name="bench-server", url=url, kind=offer.kind, model_id=offer.models[0] if offer.models else None,
            key_env=key_env, plain_http=allow_plain_http, n_ctx=offer.n_ctx,
        ))
        s = app.settings
        s.model, s.max_tokens, s.temperature = entry.name, max_tokens, 0.0
        app.open_memory()
        app.memories.add_many(
            [{"text": f"Note {i}: the garden plot {i} gets {i % 7} hours of sun."} for i in range(notes)]
        )
        model: ChatRuntime = app.load_model()
        exact = model.exact_counts
        for _ in app.turn(None, QUESTION):  # untimed: the embedder and the server warm up
            pass
        bare_runs, app_runs = [], []
        erased = True
        for _ in range(repeats):
            erased = erase_cache(url, api_key) and erased
            mine = _app_turn(app, None, QUESTION)
            app_runs.append(mine)
            window, n = mine["window"], max(2, mine["usage"].completion_tokens)
            erased = erase_cache(url, api_key) and erased
            if exact:
                body: dict[str, Any] = {"prompt": list(window.tokens), "n_predict": n, "stream": True,
                                        "cache_prompt": True, "temperature": 0.0}
                bare_runs.append(bare_generation(url, body, "/completion", api_key))
            else:
                body = {"model": getattr(model, "model_id", model.name), "messages": window.messages,
                        "max_tokens": n, "stream": True, "temperature": 0.0}
                bare_runs.append(bare_generation(url, body, "/v1/chat/completions", api_key))
        bare = {k: med(r[k] for r in bare_runs) for k in ("ttft_s", "decode_tps")}
        mine_med = {k: med(r[k] for r in app_runs) for k in ("ttft_s", "decode_tps")}

        per_turn = []
        conv = None
        previous: Sequence[int] = ()
        erase_cache(url, api_key)
        for text in SCRIPT[:turns]:
            result = _app_turn(app, conv, text)
            conv = result["conv"]
            tokens = list(result["window"].tokens)
            shared = 0
            for a, b in zip(previous, tokens, strict=False):
                if a != b:
                    break
                shared += 1
            usage = result["usage"]
            per_turn.append({"prompt": usage.prompt_tokens, "reread": usage.evaluated_tokens,
                             "new": len(tokens) - shared})
            previous = tokens
        ratios = [t["reread"] / t["new"] for t in per_turn[1:] if t["new"]]
    return {
        "served": url,
        "model": model.name,
        "kind": "llama-server" if exact else "openai",
        "exact_counts": exact,
        "cache_erased_between_runs": erased,
        "bare": bare,
        "app": mine_med,
        "ttft_ratio": round(mine_med["ttft_s"] / bare["ttft_s"], 3) if bare["ttft_s"] else None,
        "decode_ratio": round(mine_med["decode_tps"] / bare["decode_tps"], 3) if bare["decode_tps"] else None,
        "prompt_tokens": app_runs[0]["usage"].prompt_tokens,
        "reread_ratio": round(statistics.median(ratios), 3) if ratios else None,
        "turns": per_turn,
    }


def report(result: dict[str, Any]) -> None:
    print(f"{result['model']} served at {result['served']} ({result['kind']}), prompt {result['prompt_tokens']} "
          f"tokens{'' if result['cache_erased_between_runs'] else ' (the cache could not be erased: warm runs)'}")
    print(f"  bare HTTP client:   first token {result['bare']['ttft_s'] * 1000:.0f} ms, "
          f"{result['bare']['decode_tps']:.1f} pieces/s")
    print(f"  Glassmind app turn: first token {result['app']['ttft_s'] * 1000:.0f} ms, "
          f"{result['app']['decode_tps']:.1f} pieces/s")
    print(f"  ratios: time to first token {result['ttft_ratio']}x, decode {result['decode_ratio']}x")
    print(f"  {len(result['turns'])}-turn chat: re-read / new prompt tokens per turn = {result['reread_ratio']}x")
    for i, t in enumerate(result["turns"], 1):
        print(f"    turn {i:>2}: prompt {t['prompt']:>5}  re-read {t['reread']:>5}  new {t['new']:>5}")
