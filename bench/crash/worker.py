"""The worker: a child process that runs one turn-like operation with the core's public API."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def worker(argv: Sequence[str]) -> int:
    """Run one turn-like operation with the core, reporting its progress on stdout."""
    p = argparse.ArgumentParser(prog="python -m bench.crash worker")
    sub = p.add_subparsers(dest="op", required=True)
    t = sub.add_parser("turn")
    t.add_argument("text")
    t.add_argument("--conversation", type=int)
    r = sub.add_parser("regenerate")
    r.add_argument("conversation", type=int)
    e = sub.add_parser("edit_resend")
    e.add_argument("message_id", type=int)
    e.add_argument("text")
    args = p.parse_args(list(argv))

    from assistant.app import Assistant, Failed, Finished

    app = Assistant()
    app.settings.max_tokens = 32
    app.load_model()
    app.open_memory()
    _say("ready")
    if args.op == "turn":
        events = app.turn(args.conversation, args.text)
    elif args.op == "regenerate":
        events = app.regenerate(args.conversation)
    else:
        events = app.edit_and_resend(args.message_id, args.text)
    code = 0
    first = True
    for event in events:
        if first:
            first = False
            user = getattr(event, "user_message", None)
            _say(f"stored {user.id if user is not None else 0}")
        if isinstance(event, Finished):
            _say(f"finished {event.reply.id} {json.dumps(event.reply.content)}")
        elif isinstance(event, Failed):
            _say(f"failed {json.dumps(event.error)}")
            code = 1
    app.close()
    _say("closed")
    return code
