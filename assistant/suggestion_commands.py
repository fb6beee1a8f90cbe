"""`glassmind memory suggestions|approve|reject`, and the suggestions `glassmind chat` makes after a reply."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assistant.suggestions import Suggestion
from assistant.text import clean_input

if TYPE_CHECKING:
    from assistant.app import Assistant


def add_parsers(ops: Any, suggestion_id: Callable[[str], int]) -> None:
    """The three subcommands, under `glassmind memory`."""
    ls = ops.add_parser("suggestions", help="notes the model suggested, waiting for approval")
    ls.add_argument("--all", action="store_true", help="approved and rejected ones too")
    ls.add_argument("--json", action="store_true")
    ap = ops.add_parser("approve", help="make a suggestion a note (or apply the edit it proposes)")
    ap.add_argument("id", type=suggestion_id)
    ap.add_argument("--text", metavar="T", help="the note's wording, instead of the suggested one")
    rj = ops.add_parser("reject", help="never make this note (the same fact is not suggested again)")
    rj.add_argument("id", type=suggestion_id)


def describe(s: Suggestion) -> str:
    """One suggestion on one or two lines, as the terminal shows it."""
    kind = s.kind + (f" {s.event_date}" if s.event_date else "")
    status = "" if s.status == "pending" else f" [{s.status}]"
    line = f"{s.id:>6} {kind:<16} {s.text}{status}  (from message {s.source_message_id})"
    if s.replaces is not None:
        line += f"\n       replaces note {s.replaces}: {s.replaces_text}"
    if s.flag:
        line += f"\n       flagged: {s.flag}"
    return line


def public_json(s: Suggestion) -> dict[str, Any]:
    return {
        "id": s.id,
        "text": s.text,
        "kind": s.kind,
        "event_date": s.event_date,
        "source_message_id": s.source_message_id,
        "replaces": s.replaces,
        "replaces_text": s.replaces_text,
        "status": s.status,
        "created": s.created,
        "flag": s.flag,
        "from_reply": s.from_reply,
    }


def run(app: Assistant, args: argparse.Namespace) -> int:
    book = app.suggestions
    if args.op == "suggestions":
        rows = book.rows(None if args.all else "pending")
        if args.json:
            json.dump([public_json(s) for s in rows], sys.stdout, indent=2, ensure_ascii=False)
            print()
        else:
            for s in rows:
                print(describe(s))
            print(f"{len(rows)} suggestion(s)", file=sys.stderr)
    elif args.op == "approve":
        note = book.approve(args.id, clean_input(args.text) if args.text is not None else None)
        print(f"Suggestion {args.id} approved: note {note.id}.")
    elif args.op == "reject":
        book.reject(args.id)
        print(f"Suggestion {args.id} rejected; it will not be suggested again.")
    return 0


def suggest_after_reply(app: Assistant, conversation_id: int) -> None:
    """`glassmind chat`: the step after a turn (Assistant.after_turn), once the reply is printed:
    the notes suggested from the message just answered. Ctrl-C skips it; a failure here is reported
    and never fails the chat."""
    cancel = threading.Event()
    previous = signal.signal(signal.SIGINT, lambda *_: cancel.set())
    try:
        after = app.after_turn(conversation_id, cancel=cancel)
    finally:
        signal.signal(signal.SIGINT, previous)
    for notice in after.notices:
        print(f"glassmind: {notice}", file=sys.stderr)
    if after.error is not None:
        print(f"glassmind: no note suggestions this time: {after.error}", file=sys.stderr)
    for s in after.suggestions:
        verb = "noted" if s.status == "approved" else f"suggested note (glassmind memory approve {s.id})"
        print(f"[{verb}: {s.text}]", file=sys.stderr)
