"""The schedule of a run: which operation each trial runs, whether it is killed, and when."""

from __future__ import annotations

import random
from collections.abc import Sequence

OPS = (
    "turn", "cli_turn", "forget", "edit", "regenerate", "edit_resend", "import", "approve", "restore", "forget_race"
)
WORKER_OPS = ("turn", "regenerate", "edit_resend")
# After the first round (one of each, all killed), ops are drawn from this deck.
DECK = (
    "turn", "turn", "cli_turn", "forget", "forget", "edit", "regenerate", "edit_resend", "import", "approve",
    "restore", "forget_race",
)
NO_KILL_SHARE = 0.15  # trials that let the operation finish
WORKER_KILL_SPAN = 1.5  # kill within 0 .. 1.5x the operation's measured duration (after `ready`)
CLI_KILL_SPAN = 1.2  # kill within 0 .. 1.2x the command's typical total time


def plan(trials: int, seed: int, ops: Sequence[str] | None = None) -> list[tuple[str, bool, float]]:
    """The schedule, fixed by the seed alone: (operation, kill, kill moment as a share of the span).
    The first round runs each operation once and kills it; later rounds draw from DECK
    (only ``ops`` when given, to focus a run on some operations)."""
    rng = random.Random(f"{seed}-plan")
    chosen = [op for op in OPS if ops is None or op in ops]
    deck_ops = [op for op in DECK if op in chosen]
    if not chosen:
        raise ValueError(f"no known operation in {ops}: choose from {', '.join(OPS)}")

    def moment(op: str) -> float:
        # A CLI command spends most of its time importing and loading the embedder: half of its
        # kills land in the last part of its typical time, where the database work happens.
        u = rng.random()
        if op not in WORKER_OPS and rng.random() < 0.5:
            u = 0.55 + 0.4 * u  # 0.66 .. 1.14 of the typical time (the span is 1.2x it)
        return u

    first = list(chosen)
    rng.shuffle(first)
    out: list[tuple[str, bool, float]] = [(op, True, moment(op)) for op in first]
    while len(out) < trials:
        deck = list(deck_ops)
        rng.shuffle(deck)
        out += [(op, rng.random() >= NO_KILL_SHARE, moment(op)) for op in deck]
    return out[:trials]
