"""The `glassmind` command line: chat, context, memory, models, bench."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Sequence

from assistant.app import Assistant, ContextReady, Failed, Finished, Token
from assistant.context import ContextWindow
from assistant.memory import Memory
from models.errors import GlassmindError, InputTooLargeError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _print_window(window: ContextWindow, out=sys.stdout) -> None:
    cats = window.by_category()
    print(
        f"Context window: {window.prompt_tokens:,} of {window.n_ctx:,} tokens used, "
        f"{window.reserve:,} kept for the reply",
        file=out,
    )
    print("  " + "  ".join(f"{k} {v}" for k, v in cats.items()), file=out)
    print(f"  {'#':>3} {'kind':<9} {'source':<12} {'tokens':>6}  {'state':<12} text", file=out)
    for n, item in enumerate(window.items):
        text = " ".join(item.text.split())
        text = text[:60] + ("…" if len(text) > 60 else "")
        reason = f" ({item.reason})" if item.reason and not item.included else ""
        print(
            f"  {n:>3} {item.kind:<9} {item.source or '':<12} {item.tokens:>6}  {item.state:<12} {text}{reason}",
            file=out,
        )


def _memory_row(m: Memory) -> str:
    flags = ("P" if m.pinned else "-") + ("X" if m.excluded else "-")
    text = " ".join(m.text.split())
    return f"{m.id:>6} {flags} {m.kind:<7} {m.day}  {text[:80]}{'…' if len(text) > 80 else ''}"


# -- chat -------------------------------------------------------------------


def cmd_chat(app: Assistant, args: argparse.Namespace) -> int:
    if args.model:
        app.settings.model = args.model
    app.load_model()
    conv = args.conversation
    if conv is not None:
        app.store.conversation(conv)
    if args.once is not None:
        text = args.once if args.once != "-" else sys.stdin.read()
        return _chat_turn(app, conv, text, args, quiet=True)[0]
    entry = app.model_entry()
    print(f"Glassmind — {entry.name} on {app.model.backend}, context {app.model.n_ctx:,} tokens.", file=sys.stderr)
    print("Type a message; Ctrl-C stops a reply, Ctrl-D (or /quit) leaves.", file=sys.stderr)
    while True:
        try:
            text = input("you> ")
        except EOFError:
            print(file=sys.stderr)
            return 0
        except KeyboardInterrupt:
            print(file=sys.stderr)
            return 0
        if text.strip() in ("/quit", "/exit"):
            return 0
        if not text.strip():
            continue
        _, conv = _chat_turn(app, conv, text, args, quiet=False)


def _chat_turn(app: Assistant, conv: int | None, text: str, args: argparse.Namespace, *, quiet: bool):
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    code = 0
    try:
        if getattr(args, "truncate", False):
            text = _truncate_to_fit(app, conv, text)
        if not quiet:
            print("glassmind> ", end="", flush=True)
        for event in app.turn(conv, text, cancel=cancel):
            if isinstance(event, ContextReady):
                conv = event.user_message.conversation_id
                if args.show_context:
                    _print_window(event.window, out=sys.stderr)
            elif isinstance(event, Token):
                print(event.text, end="", flush=True)
            elif isinstance(event, Finished):
                print(flush=True)
                if event.usage.stop_reason == "cancelled":
                    print("[stopped; the partial reply is saved]", file=sys.stderr)
                if args.stats:
                    u = event.usage
                    print(
                        f"[{u.prompt_tokens} prompt tokens ({u.reused_tokens} reused), {u.completion_tokens} "
                        f"generated, first token {u.ttft_s:.2f}s, {u.decode_tps:.1f} tokens/s]",
                        file=sys.stderr,
                    )
            elif isinstance(event, Failed):
                print(file=sys.stderr)
                print(f"glassmind: {event.error}", file=sys.stderr)
                if isinstance(event.exception, InputTooLargeError):
                    print("glassmind: run again with --truncate to send the part that fits.", file=sys.stderr)
                if event.user_message:
                    conv = event.user_message.conversation_id
                code = 1
    finally:
        signal.signal(signal.SIGINT, previous)
    if quiet and conv is not None and args.print_id:
        print(f"conversation {conv}", file=sys.stderr)
    return code, conv


def _truncate_to_fit(app: Assistant, conv: int | None, text: str) -> str:
    """Cut a message to what fits, keeping its beginning; the user asked for it explicitly."""
    cut = app.fit_message(conv, text)
    if cut != text:
        print(f"glassmind: message truncated to {len(cut):,} characters to fit the context window.", file=sys.stderr)
    return cut


# -- context ------------------------------------------------------------------


def cmd_context(app: Assistant, args: argparse.Namespace) -> int:
    if args.model:
        app.settings.model = args.model
    if args.conversation is not None:
        app.store.conversation(args.conversation)
    window = app.context(args.conversation, args.message)
    if args.json:
        json.dump(window.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_window(window)
    return 0


# -- models ----------------------------------------------------------------------


def cmd_models(app: Assistant, args: argparse.Namespace) -> int:
    from models.llama import build_backend

    if args.add:
        entry = app.registry.add(args.add)
        print(f"Added {entry.name} ({entry.path}).")
        return 0
    entries = app.registry.entries()
    backend = build_backend()
    if args.json:
        json.dump([{**e.to_json(), "backend": backend} for e in entries], sys.stdout, indent=2)
        print()
        return 0
    for e in entries:
        mark = "*" if e.default else " "
        tmpl = "chat template" if e.has_chat_template else "NO chat template"
        line = (
            f"{mark} {e.name:<36} {e.architecture:<10} {e.parameters / 1e6:>8.0f}M {e.quantization:<7} "
            f"ctx {e.context_length:>7,}  {e.size_bytes / 2**20:>8.1f} MiB  {tmpl}"
        )
        print(line + (f"  [{e.error}]" if e.error else ""))
        print(f"  {e.path}")
    print(f"llama.cpp backend: {backend}")
    return 0


# -- memory --------------------------------------------------------------------------


def cmd_memory(app: Assistant, args: argparse.Namespace) -> int:
    mem = app.memories
    op = args.op
    if op == "list":
        rows = mem.list(search=args.search, sort=args.sort, limit=args.limit)
        if args.json:
            json.dump([m.to_json() for m in rows], sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            for m in rows:
                print(_memory_row(m))
            print(f"{mem.count()} memories", file=sys.stderr)
    elif op == "search":
        app.open_memory(_progress)
        result = app.retriever.retrieve(" ".join(args.query), budget=args.budget, include_pinned=True)
        if args.json:
            json.dump([h.to_json() for h in result.hits], sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            for h in result.hits:
                print(f"{h.memory.id:>6} {h.fused:.4f} {h.tokens:>4}t  {h.memory.display()[:90]}")
                print(f"       {h.reason}")
    elif op == "add":
        app.open_memory(_progress)
        m = mem.add(" ".join(args.text), pinned=args.pin)
        print(f"Added memory {m.id}.")
    elif op in ("pin", "unpin"):
        mem.set_pinned(args.ids, op == "pin")
        print(f"{op.capitalize()}ned {len(args.ids)} memor{'y' if len(args.ids) == 1 else 'ies'}.")
    elif op in ("exclude", "include"):
        mem.set_excluded(args.ids, op == "exclude")
        print(f"{op.capitalize()}d {len(args.ids)} memor{'y' if len(args.ids) == 1 else 'ies'}.")
    elif op == "edit":
        app.open_memory(_progress)
        m = mem.edit(args.id, " ".join(args.text))
        print(f"Memory {m.id} changed and re-indexed.")
    elif op == "forget":
        app.open_memory(_progress)
        n = mem.forget(args.ids)
        print(f"Forgot {n} memor{'y' if n == 1 else 'ies'}: erased from the database and the index.")
    return 0


def _progress(done: int, total: int) -> None:
    if total:
        print(f"\rIndexing memories: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


# -- export / import -------------------------------------------------------------------------


def cmd_export(app: Assistant, args: argparse.Namespace) -> int:
    from assistant.transfer import export_data

    text = json.dumps(export_data(app), indent=2, ensure_ascii=False)
    if args.output in (None, "-"):
        print(text)
    else:
        try:
            Path(args.output).write_text(text + "\n", encoding="utf-8")
        except OSError as exc:
            print(f"glassmind: could not write {args.output}: {exc.strerror or exc}.", file=sys.stderr)
            return 1
        print(f"Exported to {args.output}.", file=sys.stderr)
    return 0


def cmd_import(app: Assistant, args: argparse.Namespace) -> int:
    from assistant.transfer import import_data, read_export

    convs, msgs, notes = import_data(app, read_export(Path(args.file)))
    print(f"Imported {convs} conversations ({msgs} messages) and {notes} notes.")
    return 0


# -- bench ---------------------------------------------------------------------------------


def cmd_bench(args: argparse.Namespace, rest: list[str]) -> int:
    import importlib

    try:
        module = importlib.import_module(f"bench.{args.which}")
    except ModuleNotFoundError:
        print(f"glassmind: no benchmark called '{args.which}'.", file=sys.stderr)
        return 2
    return int(module.main(rest) or 0)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="glassmind", description="Offline chat whose memory you can see.")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("chat", help="terminal chat (streams the reply)")
    c.add_argument("--once", metavar="TEXT", help="print one reply to stdout and exit ('-' reads stdin)")
    c.add_argument("--conversation", type=int, metavar="ID", help="continue a conversation")
    c.add_argument("--model", metavar="PATH_OR_NAME", help="a registry name or a GGUF path")
    c.add_argument("--show-context", action="store_true", help="print the context window before each reply")
    c.add_argument("--stats", action="store_true", help="print token figures after each reply")
    c.add_argument("--truncate", action="store_true", help="cut a message that does not fit, instead of refusing")
    c.add_argument("--print-id", action="store_true", help="print the conversation id to stderr")

    x = sub.add_parser("context", help="the context window the next turn would use")
    x.add_argument("--conversation", type=int, metavar="ID")
    x.add_argument("--message", default="(your next message)", metavar="TEXT")
    x.add_argument("--model", metavar="PATH_OR_NAME")
    x.add_argument("--json", action="store_true")

    m = sub.add_parser("models", help="the model registry")
    m.add_argument("--json", action="store_true")
    m.add_argument("--add", metavar="PATH", help="add a GGUF file to the registry")

    mem = sub.add_parser("memory", help="long-term memory")
    ms = mem.add_subparsers(dest="op", required=True)
    ls = ms.add_parser("list")
    ls.add_argument("--search")
    ls.add_argument("--sort", choices=["newest", "oldest", "pinned", "text"], default="newest")
    ls.add_argument("--limit", type=int, default=50)
    ls.add_argument("--json", action="store_true")
    se = ms.add_parser("search")
    se.add_argument("query", nargs="+")
    se.add_argument("--budget", type=int, default=512)
    se.add_argument("--json", action="store_true")
    ad = ms.add_parser("add")
    ad.add_argument("text", nargs="+")
    ad.add_argument("--pin", action="store_true")
    for name in ("pin", "unpin", "exclude", "include", "forget"):
        sp = ms.add_parser(name)
        sp.add_argument("ids", type=int, nargs="+")
    ed = ms.add_parser("edit")
    ed.add_argument("id", type=int)
    ed.add_argument("text", nargs="+")

    e = sub.add_parser("export", help="conversations and notes as JSON (stdout, or --output FILE)")
    e.add_argument("--output", metavar="FILE")
    i = sub.add_parser("import", help="add the conversations and notes of an export")
    i.add_argument("file", metavar="FILE")

    b = sub.add_parser("bench", help="benchmarks: locomo, retrieval, speed, ui")
    b.add_argument("which", choices=["locomo", "retrieval", "speed", "ui"])
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if argv and argv[0] == "bench":
        args, rest = parser.parse_known_args(argv)
        return cmd_bench(args, rest)
    args = parser.parse_args(argv)
    handlers = {
        "chat": cmd_chat,
        "context": cmd_context,
        "models": cmd_models,
        "memory": cmd_memory,
        "export": cmd_export,
        "import": cmd_import,
    }
    if args.command is None:
        parser.print_help()
        return 0
    try:
        app = Assistant()
    except GlassmindError as exc:
        print(f"glassmind: {exc}", file=sys.stderr)
        return 1
    try:
        return handlers[args.command](app, args)
    except GlassmindError as exc:
        print(f"glassmind: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    finally:
        app.close()


if __name__ == "__main__":
    raise SystemExit(main())
