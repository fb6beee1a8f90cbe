"""The worker: a child process that runs one turn-like operation with the core's public API."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

HOLD_TIMEOUT_S = 300.0


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
    t.add_argument(
        "--hold", metavar="FILE",
        help="once the window is built, say `window` and wait until FILE exists (a forget races the turn)",
    )
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
            hold = getattr(args, "hold", None)
            if hold:
                _say("window")  # the prompt is built, the reply and the record are still to come
                end = time.monotonic() + HOLD_TIMEOUT_S
                while not Path(hold).exists() and time.monotonic() < end:
                    time.sleep(0.02)
        if isinstance(event, Finished):
            _say(f"finished {event.reply.id} {json.dumps(event.reply.content)}")
        elif isinstance(event, Failed):
            _say(f"failed {json.dumps(event.error)}")
            code = 1
    app.close()
    _say("closed")
    return code
