"""The `glassmind` command line: chat, context, memory, models, bench."""

from __future__ import annotations

import argparse
import contextlib
import errno
import getpass
import json
import os
import re
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from assistant.app import Assistant, ContextReady, Failed, Finished, Token
from assistant.context import ContextWindow
from assistant.memory import Memory
from assistant.text import clean_input, decode_input, is_blank, shown
from models.errors import GlassmindError, InputTooLargeError, InvalidInputError

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


def _print_window(window: ContextWindow, out: TextIO | None = None) -> None:
    out = out or sys.stdout
    cats = window.by_category()
    print(
        f"Context window: {window.prompt_tokens:,} of {window.n_ctx:,} tokens used, "
        f"{window.reserve:,} kept for the reply",
        file=out,
    )
    print("  " + "  ".join(f"{k} {v}" for k, v in cats.items()), file=out)
    print(f"  {'#':>3} {'kind':<9} {'source':<12} {'tokens':>6}  {'state':<12} text", file=out)
    for n, item in enumerate(window.items):
        text = shown(" ".join(item.text.split()))
        text = text[:60] + ("…" if len(text) > 60 else "")
        reason = f" ({item.reason})" if item.reason and not item.included else ""
        label = f" [{item.label}]" if item.label else ""
        print(
            f"  {n:>3} {item.kind:<9} {item.source or '':<12} {item.tokens:>6}  {item.state:<12} {text}{reason}{label}",
            file=out,
        )


def _memory_row(m: Memory) -> str:
    flags = ("P" if m.pinned else "-") + ("X" if m.excluded else "-")
    text = shown(" ".join(m.text.split()))  # a bidi override must not reorder the rest of the line
    return f"{m.id:>6} {flags} {m.kind:<7} {m.day}  {text[:80]}{'…' if len(text) > 80 else ''}"


# -- chat -------------------------------------------------------------------


CHAT_HELP = """Commands (not sent to the model):
  /help            this list
  /new             start a new conversation
  /context [TEXT]  the context window the next message would use
  /quit            leave (so does Ctrl-D)
Start a message with // to send one that begins with /."""

_COMMAND = re.compile(r"/[A-Za-z]+")


def cmd_chat(app: Assistant, args: argparse.Namespace) -> int:
    if args.model:
        app.settings = app.settings.for_model(args.model)  # with its own context, GPU layers, temperature
    if sys.stdin.isatty():  # a served model's key that neither the keyring nor a variable holds: asked once
        app.ask_key = lambda name: getpass.getpass(f"API key for the server {name} (not shown): ").strip() or None
    conv = args.conversation
    if conv is not None:
        app.store.conversation(conv)
    if args.once is not None:
        # The model is loaded inside the turn, after the message is stored: a model that fails
        # to load (or a kill while it loads) cannot lose what the user typed.
        text = _read_stdin() if args.once == "-" else clean_input(args.once)
        return _chat_turn(app, conv, text, args, quiet=True)[0]
    model = app.load_model()  # nothing typed yet: a failure here loses nothing
    info = app.model_info()
    if getattr(model, "notice", None):  # e.g. the GPU was too small: running on the CPU
        print(f"glassmind: {model.notice}", file=sys.stderr)
    where = f"served on {info.location}" if info.location != "local" else f"on {model.backend}"
    print(f"Glassmind — {info.name} {where}, context {model.n_ctx:,} tokens.", file=sys.stderr)
    print("Type a message; Ctrl-C stops a reply, Ctrl-D (or /quit) leaves, /help lists commands.", file=sys.stderr)
    _tolerate_bad_bytes(sys.stdin)
    while True:
        try:
            text = clean_input(input("you> "))
        except (EOFError, KeyboardInterrupt):
            print(file=sys.stderr)
            return 0
        stripped = text.strip()
        if is_blank(stripped):
            continue
        if stripped.startswith("//"):
            text = stripped[1:]
        elif _COMMAND.fullmatch(stripped.split(maxsplit=1)[0]):
            command, _, rest = stripped.partition(" ")
            command = command.lower()
            if command in ("/quit", "/exit"):
                return 0
            if command == "/help":
                print(CHAT_HELP, file=sys.stderr)
            elif command == "/new":
                conv = None
                print("New conversation: it starts with your next message.", file=sys.stderr)
            elif command == "/context":
                _print_window(app.context(conv, rest.strip() or "(your next message)"))
            else:
                print(f"glassmind: there is no command {command}: /help lists them.", file=sys.stderr)
            continue
        _, conv = _chat_turn(app, conv, text, args, quiet=False)


def _read_stdin() -> str:
    """All of stdin as text; bytes that are not UTF-8 become U+FFFD instead of failing the message."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return decode_input(buffer.read())
    return clean_input(sys.stdin.read())


def _tolerate_bad_bytes(stream: object, errors: str = "surrogateescape") -> None:
    """Let a text stream pass what it cannot decode or encode instead of raising: on stdin,
    bytes that are not UTF-8 come through as surrogates (clean_input repairs them)."""
    reconfigure = getattr(stream, "reconfigure", None)  # io.TextIOWrapper has it; a replaced stream may not
    if callable(reconfigure):
        with contextlib.suppress(ValueError, OSError):
            reconfigure(errors=errors)


def _chat_turn(
    app: Assistant, conv: int | None, text: str, args: argparse.Namespace, *, quiet: bool
) -> tuple[int, int | None]:
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    code = 0
    streamed = not quiet  # "glassmind> " or reply text is on the line: end it before an error
    try:
        if getattr(args, "truncate", False):
            # If the model cannot be used, the turn below stores the message, then says why.
            with contextlib.suppress(GlassmindError):
                text = _truncate_to_fit(app, conv, text)
        if not quiet:
            print("glassmind> ", end="", flush=True)
        for event in app.turn(conv, text, cancel=cancel, reading=_reading_progress):
            if isinstance(event, ContextReady):
                conv = event.user_message.conversation_id
                if args.show_context:
                    _print_window(event.window, out=sys.stderr)
            elif isinstance(event, Token):
                streamed = True
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
                if streamed:
                    print(flush=True)
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
    if code == 0 and conv is not None:
        from assistant import suggestion_commands

        suggestion_commands.suggest_after_reply(app, conv)
    return code, conv


def _reading_progress(done: int, total: int) -> None:
    """A long prompt takes minutes on a slow CPU: show that it is being read (Ctrl-C stops it)."""
    if total >= 1000 and sys.stderr.isatty():
        end = "\n" if done >= total else ""
        print(f"\rreading the prompt: {done:,} / {total:,} tokens (Ctrl-C stops)", end=end, file=sys.stderr, flush=True)


def _truncate_to_fit(app: Assistant, conv: int | None, text: str) -> str:
    """Cut a message to what fits, keeping its beginning; the user asked for it explicitly."""
    cut = app.fit_message(conv, text)
    if cut != text:
        print(f"glassmind: message truncated to {len(cut):,} characters to fit the context window.", file=sys.stderr)
    return cut


# -- context ------------------------------------------------------------------


def cmd_context(app: Assistant, args: argparse.Namespace) -> int:
    if args.model:
        app.settings = app.settings.for_model(args.model)
    if args.conversation is not None:
        app.store.conversation(args.conversation)
    window = app.context(args.conversation, clean_input(args.message))
    if args.json:
        json.dump(window.to_json(), sys.stdout, indent=2, ensure_ascii=False)
        print()
    else:
        _print_window(window)
    return 0


# -- models ----------------------------------------------------------------------


def cmd_models(app: Assistant, args: argparse.Namespace) -> int:
    from assistant import model_commands

    return model_commands.run(app, args)


# -- memory --------------------------------------------------------------------------


def cmd_memory(app: Assistant, args: argparse.Namespace) -> int:
    mem = app.memories
    op = args.op
    if op == "list":
        rows = mem.browse(search=clean_input(args.search) if args.search else None, sort=args.sort, limit=args.limit)
        if args.json:
            json.dump([m.to_json() for m in rows], sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            for m in rows:
                print(_memory_row(m))
            print(f"{mem.count()} memories", file=sys.stderr)
    elif op == "search":
        app.open_memory(_progress)
        result = app.retriever.retrieve(_words(args.query), budget=args.budget, include_pinned=True, floor=False)
        if args.json:
            json.dump([h.to_json() for h in result.hits], sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            for h in result.hits:
                print(f"{h.memory.id:>6} {h.fused:.4f} {h.tokens:>4}t  {shown(h.memory.display()[:90])}")
                print(f"       {h.reason}")
    elif op == "add":
        app.open_memory(_progress)
        m = mem.add(_words(args.text), pinned=args.pin)
        print(f"Added memory {m.id}.")
    elif op in ("pin", "unpin"):
        mem.set_pinned(args.ids, op == "pin")
        print(f"{op.capitalize()}ned {len(args.ids)} memor{'y' if len(args.ids) == 1 else 'ies'}.")
    elif op in ("exclude", "include"):
        mem.set_excluded(args.ids, op == "exclude")
        print(f"{op.capitalize()}d {len(args.ids)} memor{'y' if len(args.ids) == 1 else 'ies'}.")
    elif op == "edit":
        app.open_memory(_progress)
        m = mem.edit(args.id, _words(args.text))
        print(f"Memory {m.id} changed and re-indexed.")
    elif op == "forget":
        app.open_memory(_progress, embed=False)  # erasing embeds nothing: seconds faster
        n = mem.forget(args.ids)
        print(f"Forgot {n} memor{'y' if n == 1 else 'ies'}: erased from the database and the index.")
    elif op in ("suggestions", "approve", "reject"):
        from assistant import suggestion_commands

        return suggestion_commands.run(app, args)
    return 0


def _words(words: list[str]) -> str:
    return clean_input(" ".join(words))


def _progress(done: int, total: int) -> None:
    if total:
        print(f"\rIndexing memories: {done}/{total}", end="" if done < total else "\n", file=sys.stderr, flush=True)


# -- export / import -------------------------------------------------------------------------


def cmd_export(app: Assistant, args: argparse.Namespace) -> int:
    from assistant.transfer import export_data, write_export

    data = export_data(app)
    if args.output in (None, "-"):
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        write_export(Path(args.output), data)  # a temporary file, then a rename: never half written
        print(f"Exported to {args.output}.", file=sys.stderr)
    return 0


def cmd_import(app: Assistant, args: argparse.Namespace) -> int:
    from assistant.transfer import import_data, read_export

    result = import_data(app, read_export(Path(args.file)))
    print(result.summary())
    return 0


MAX_ID = 2**63 - 1
_DIGITS = re.compile(r"[0-9]{1,30}")


def _number(what: str, low: int, high: int, *, hint: str = "") -> Callable[[str], int]:
    """An argparse type for a whole number in [low, high]. It raises InvalidInputError, which
    argparse does not catch: main() prints it as one sentence and exits 1."""

    def parse(text: str) -> int:
        # ASCII digits only (a minus sign where negatives are allowed): int() also takes '１' (a
        # full-width one), '+2', '1_0' and ' 2 '.
        digits = text[1:] if low < 0 and text.startswith("-") else text
        value = int(text) if _DIGITS.fullmatch(digits) else None
        if value is None or not low <= value <= high:
            typed = clean_input(text)
            typed = shown(typed if len(typed) <= 30 else typed[:30] + "…")
            raise InvalidInputError(f"'{typed}' is not {what}{hint}.")
        return value

    parse.__name__ = what
    return parse


_memory_id = _number("a memory id", 1, MAX_ID, hint=": `glassmind memory list` shows the ids")
_suggestion_id = _number("a suggestion id", 1, MAX_ID, hint=": `glassmind memory suggestions` shows the ids")
_conversation_id = _number("a conversation id", 1, MAX_ID, hint=": `glassmind chat --print-id` shows it")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="glassmind", description="Offline chat whose memory you can see.")
    sub = p.add_subparsers(dest="command")

    c = sub.add_parser("chat", help="terminal chat (streams the reply)")
    c.add_argument("--once", metavar="TEXT", help="print one reply to stdout and exit ('-' reads stdin)")
    c.add_argument("--conversation", type=_conversation_id, metavar="ID", help="continue a conversation")
    c.add_argument("--model", metavar="PATH_OR_NAME", help="a registry name or a GGUF path")
    c.add_argument("--show-context", action="store_true", help="print the context window before each reply")
    c.add_argument("--stats", action="store_true", help="print token figures after each reply")
    c.add_argument("--truncate", action="store_true", help="cut a message that does not fit, instead of refusing")
    c.add_argument("--print-id", action="store_true", help="print the conversation id to stderr")

    x = sub.add_parser("context", help="the context window the next turn would use")
    x.add_argument("--conversation", type=_conversation_id, metavar="ID")
    x.add_argument("--message", default="(your next message)", metavar="TEXT")
    x.add_argument("--model", metavar="PATH_OR_NAME")
    x.add_argument("--json", action="store_true")

    from assistant import model_commands

    model_commands.add_parser(sub, _number)

    mem = sub.add_parser("memory", help="long-term memory")
    ms = mem.add_subparsers(dest="op", required=True)
    ls = ms.add_parser("list")
    ls.add_argument("--search")
    ls.add_argument("--sort", choices=["newest", "oldest", "pinned", "text"], default="newest")
    ls.add_argument("--limit", type=_number("a number of memories from 0 to 1,000,000", 0, 1_000_000), default=50)
    ls.add_argument("--json", action="store_true")
    se = ms.add_parser("search")
    se.add_argument("query", nargs="+")
    se.add_argument("--budget", type=_number("a token budget from 0 to 1,048,576", 0, 1_048_576), default=512)
    se.add_argument("--json", action="store_true")
    ad = ms.add_parser("add")
    ad.add_argument("text", nargs="+")
    ad.add_argument("--pin", action="store_true")
    for name in ("pin", "unpin", "exclude", "include", "forget"):
        sp = ms.add_parser(name)
        sp.add_argument("ids", type=_memory_id, nargs="+")
    ed = ms.add_parser("edit")
    ed.add_argument("id", type=_memory_id)
    ed.add_argument("text", nargs="+")
    from assistant import suggestion_commands

    suggestion_commands.add_parsers(ms, _suggestion_id)

    e = sub.add_parser("export", help="conversations and notes as JSON (stdout, or --output FILE)")
    e.add_argument("--output", metavar="FILE")
    i = sub.add_parser("import", help="add the conversations and notes of an export")
    i.add_argument("file", metavar="FILE")

    bk = sub.add_parser("backup", help="automatic backups: list, now, restore [NAME]")
    bks = bk.add_subparsers(dest="op")
    bks.add_parser("list", help="the backups, newest first")
    bks.add_parser("now", help="make a backup now")
    rs = bks.add_parser("restore", help="put a backup (the newest by default) in place of the database")
    rs.add_argument("name", nargs="?", help="a name from `glassmind backup list`")

    # `glassmind bench ...` is dispatched by the entry point (ui/launcher.py) to bench/: the
    # core never reaches up into the benchmarks. Listed here so that --help names it.
    sub.add_parser("bench", help="benchmarks: locomo, retrieval, speed, ui, crash, suggestions (see bench/)")
    return p


def _os_error(exc: OSError) -> str:
    """An operating-system error as the one sentence a user sees."""
    where = f" ({exc.filename})" if exc.filename else ""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"The disk is full{where}: free some space and try again; what was saved before is kept."
    if isinstance(exc, PermissionError) or exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"Permission denied{where}: give your user access to it, or set GLASSMIND_HOME to another folder."
    reason = exc.strerror or str(exc) or type(exc).__name__
    return f"The system refused an operation{where}: {reason}. Check it and try again."


def _fail(message: str) -> int:
    print(f"glassmind: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # A file name that is not UTF-8, or a terminal that cannot show a character, must not fail a command.
    _tolerate_bad_bytes(sys.stdout, "backslashreplace")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, or a usage error argparse has already printed
        return exc.code if isinstance(exc.code, int) else 1
    except GlassmindError as exc:  # a value the argument types refused
        return _fail(str(exc))
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
    if args.command == "backup":
        try:
            return cmd_backup(args)
        except GlassmindError as exc:
            return _fail(str(exc))
        except OSError as exc:
            return _fail(_os_error(exc))
    try:
        app = Assistant()
    except GlassmindError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(_os_error(exc))
    except KeyboardInterrupt:
        return 130
    for problem in [*app.store.notices, *getattr(app.settings, "problems", [])]:
        print(f"glassmind: {problem}", file=sys.stderr)
    try:
        return handlers[args.command](app, args)
    except GlassmindError as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        _silence_stdout()  # the reader (| head) went away: nothing more to say
        return 1
    except OSError as exc:
        return _fail(_os_error(exc))
    except KeyboardInterrupt:
        return 130
    finally:
        for notice in app.take_notices():
            print(f"glassmind: {notice}", file=sys.stderr)
        app.close()


def cmd_backup(args: argparse.Namespace) -> int:
    """Backups are handled without opening the database through the app: it may be the damaged part."""
    from assistant import paths
    from assistant.backup import Backups
    from assistant.opening import open_store

    db_path = paths.database_path()
    backups = Backups(db_path.parent / "backups")
    if args.op in (None, "list"):
        items = backups.list()
        for b in items:
            print(b.describe())
        print(f"{len(items)} backup(s) in {backups.dir}", file=sys.stderr)
    elif args.op == "now":
        store = open_store(db_path)
        try:
            made = store.backups.make(store.db.conn, "manual")
        finally:
            store.close()
        print(f"Backed up to {made.path}.")
    elif args.op == "restore":
        restored = backups.restore(args.name, db_path)
        for notice in backups.notices:  # a backup that could not be rewritten without what was erased
            print(f"glassmind: {notice}", file=sys.stderr)
        print(
            f"Restored {restored.name} ({restored.created:%Y-%m-%d %H:%M} UTC). The database you had is kept "
            "as a 'before-restore' backup when it could be read; close every other Glassmind first next time."
        )
    return 0


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
