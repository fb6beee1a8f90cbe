"""Crash harness: Glassmind's promises must survive `kill -9` at any moment.

One data dir (GLASSMIND_HOME) serves the whole run, so damage accumulates as it
would in a real user's data. Each trial picks an operation, runs it in a child
process (a chat turn in a worker, a CLI turn, forget, edit, regenerate,
edit-and-resend, import), SIGKILLs it at a random moment (some trials let it
finish), then plays "the next start" in this process -- ``Assistant(data_dir)``
and ``open_memory()``, which finish interrupted forgets and index what a killed
turn left -- and checks:

- lost_messages: every acknowledged message, and every message an earlier check
  saw stored, is still stored (unless the harness itself removed it);
- unindexed: every message has a memory row, every memory a vector, the FAISS
  index holds it, and a keyword (FTS5) search for one of its words finds it;
- index_divergent: FAISS ids == memory ids with vectors, no stray vector rows,
  and a dense search returns only ids of existing memories;
- leaked_files: once a forget (or an edit) has taken effect, no file under the
  data dir holds the forgotten (or replaced) text: database, WAL, index, backups;
- integrity_failures: ``PRAGMA integrity_check`` and the FTS5 integrity check;
- duplicate_imports: importing the same export again added nothing twice;
- partial_imports: a killed import left all of a conversation or none of it;
- unapplied: an operation that exited with success but whose effect is missing;
- hangs: a child that never got ready, or an unkilled one that never finished.

Forget and edit work on notes holding unique markers ("secret-<trial>-<word>", some
on two lines); before them a turn sometimes retrieves the note (the secret lands in
a recorded prompt, maybe in a reply: every memory holding it is forgotten, as found
by ``memory list --search``) and a backup is sometimes made. A secret is checked in
the files once no memory or message holds it any more; the needles are its markers,
its lines, and its word as FTS5 keeps it (whole, and its tail: terms are
prefix-compressed). Imports mostly repeat the first export (it must add nothing);
now and then a new export is written so that kills also land in imports that write.

The schedule (operation, kill or not, kill moment) depends on the seed alone: the
first round runs every operation once and kills it. Workers are killed 0..1.5x the
operation's measured duration after `ready`; CLI commands 0..1.2x their typical time
after start (half of those kills in its last part, where the database work is).
A worker killed after printing `closed` counts as killed after the operation.

    python -m bench.crash [--trials N] [--seed S] [--json] [--data-dir DIR] [--keep] [--ops forget,edit]

Exit status 0 when every failure count is zero. The JSON's "failures" lists each
problem once (trial, operation, kill delay and phase, what was found); "log" has
every trial's choices. The same seed replays the same schedule; the setup choices
(which conversation, which note) follow it as long as the kills land alike.

The worker (``python -m bench.crash worker turn TEXT``, ``worker regenerate CONV``,
``worker edit_resend MSG TEXT``) uses only public APIs of assistant/*. It prints
``ready`` when set up, ``stored <id>`` at the first event of the turn (the user
message is stored before it), ``finished <id> <json reply>`` and ``closed``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

OPS = ("turn", "cli_turn", "forget", "edit", "regenerate", "edit_resend", "import")
WORKER_OPS = ("turn", "regenerate", "edit_resend")
# After the first round (one of each, all killed), ops are drawn from this deck.
DECK = ("turn", "turn", "cli_turn", "forget", "forget", "edit", "regenerate", "edit_resend", "import")
NO_KILL_SHARE = 0.15  # trials that let the operation finish
WORKER_KILL_SPAN = 1.5  # kill within 0 .. 1.5x the operation's measured duration (after `ready`)
CLI_KILL_SPAN = 1.2  # kill within 0 .. 1.2x the command's typical total time
READY_TIMEOUT_S = 240.0
FINISH_TIMEOUT_S = 300.0
FAILURE_KINDS = (
    "lost_messages",
    "unindexed",
    "leaked_files",
    "index_divergent",
    "integrity_failures",
    "duplicate_imports",
    "partial_imports",
    "unapplied",
    "hangs",
)
TOPICS = (
    "blue", "garden", "gym", "office", "garage", "boat", "studio", "cellar", "attic", "bike",
    "pool", "school", "library", "station", "harbour", "bakery", "chapel", "market", "tower", "barn",
)
QUESTIONS = (
    "What should I plant in a small garden this spring?",
    "Give me one tip for sleeping better.",
    "How do I keep basil alive on a windowsill?",
    "Suggest a name for a grey cat.",
    "What is a quick dinner with eggs?",
    "How long should I boil pasta?",
    "Remind me what we said about the lockers.",
    "Which code word did I save for the locker?",
)
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"

Progress = Callable[[str], None]


# -- the worker (child process) ---------------------------------------------------------------


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


# -- child processes ---------------------------------------------------------------------------


class Child:
    """A child process whose stdout lines are time-stamped as they arrive."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            argv, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True, encoding="utf-8", errors="replace",
        )
        self.lines: list[tuple[float, str]] = []
        self.err: list[str] = []
        self._cond = threading.Condition()
        self._threads = [
            threading.Thread(target=self._read_out, daemon=True),
            threading.Thread(target=self._read_err, daemon=True),
        ]
        for th in self._threads:
            th.start()
        self.killed = False
        self.exited_before_kill = False
        self.t_end: float | None = None

    def _read_out(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._cond:
                self.lines.append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self.lines.append((time.monotonic(), "<eof>"))
            self._cond.notify_all()

    def _read_err(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line.rstrip("\n"))
            del self.err[:-40]

    def wait_line(self, prefix: str, timeout: float) -> float | None:
        """The time the first line starting with ``prefix`` arrived; None at EOF or timeout."""
        end = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, line in self.lines:
                    if line.startswith(prefix):
                        return t
                    if line == "<eof>":
                        return None
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def sleep_until(self, when: float) -> bool:
        """Wait until ``when`` (monotonic) or the process exits; True if it exited first."""
        while True:
            if self.proc.poll() is not None:
                return True
            left = when - time.monotonic()
            if left <= 0:
                return False
            time.sleep(min(0.01, left))

    def kill(self) -> bool:
        """SIGKILL it; True if it was still running (the kill landed mid-operation)."""
        if self.proc.poll() is not None:
            self.exited_before_kill = True
            return False
        try:
            self.proc.send_signal(signal.SIGKILL)
            self.killed = True
        except ProcessLookupError:
            self.exited_before_kill = True
            return False
        return True

    def finish(self, timeout: float = FINISH_TIMEOUT_S) -> int | None:
        """Wait for the exit; a hung process is killed and None returned."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
            rc = None
        self.t_end = self.t_end or time.monotonic()
        for th in self._threads:
            th.join(5)
        return rc

    @property
    def elapsed(self) -> float:
        """Seconds from the start to the exit (or to now, while it runs)."""
        return (self.t_end or time.monotonic()) - self.t0

    def parsed(self) -> list[tuple[str, str]]:
        out = []
        for _, line in self.lines:
            word, _, rest = line.partition(" ")
            out.append((word, rest))
        return out

    def done_at(self) -> float:
        """When the worker said `closed` (its operation done; the interpreter's exit follows),
        else when its output ended."""
        closed = self.wait_line("closed", 0)
        if closed is not None:
            return closed
        return self.lines[-1][0] if self.lines else time.monotonic()

    def phase(self) -> str:
        words = [w for w, _ in self.parsed() if w in ("ready", "stored", "finished", "failed", "closed")]
        return words[-1] if words else "starting"


# -- state of the run -----------------------------------------------------------------------------


@dataclass
class Secret:
    """A note with unique markers, from its creation to its erasure."""

    sid: int
    markers: list[str]
    text: str
    token: str
    trial: int
    note_id: int | None = None
    status: str = "live"  # live | forgetting | editing | forgotten | edited | erased
    edited_to: Secret | None = None
    erased_in: int | None = None
    in_prompt: bool = False
    in_backup: bool = False
    via: str = ""  # "forget" or "edit": the operation that took it away
    changed_in: int | None = None  # the trial of that operation

    def needles(self) -> list[str]:
        """What must be gone from every file once it is erased: the markers, each line of the
        text, and the token FTS5 keeps (whole, and its tail: FTS5 prefix-compresses terms)."""
        out = list(self.markers)
        out += [line for line in self.text.splitlines() if line.strip()]
        out += [self.token, self.token[-7:]]
        return list(dict.fromkeys(out))

    def search_needles(self) -> list[str]:
        """What a user searches for to find every copy (a reply may echo only the token)."""
        return list(dict.fromkeys(self.markers + [self.token, self.token[-7:]]))


@dataclass
class State:
    expected: dict[int, tuple[str | None, str]] = field(default_factory=dict)  # id -> (content, origin)
    pending_texts: list[tuple[str, str]] = field(default_factory=list)  # checked at the next check
    removed: set[int] = field(default_factory=set)  # message ids the harness itself erased
    removed_texts: set[str] = field(default_factory=set)  # and their texts
    secrets: list[Secret] = field(default_factory=list)
    import_keys_seen: set[str] = field(default_factory=set)
    problems: dict[tuple, dict[str, Any]] = field(default_factory=dict)
    scanned: dict[str, tuple[tuple, set[int]]] = field(default_factory=dict)  # file -> (signature, secret ids)
    durations: dict[str, list[float]] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)


# -- the harness --------------------------------------------------------------------------------------


class Harness:
    def __init__(self, data_dir: Path, work_dir: Path, seed: int, embedder: Any, progress: Progress) -> None:
        self.data_dir = data_dir
        self.work_dir = work_dir
        self.seed = seed
        self.rng = random.Random(f"{seed}-setup")
        self.embedder = embedder
        self.progress = progress
        self.state = State()
        self.env = dict(os.environ)
        self.env.update(
            GLASSMIND_HOME=str(data_dir),
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
            TOKENIZERS_PARALLELISM="false",
            PYTHONPATH=os.pathsep.join([str(REPO)] + [p for p in [os.environ.get("PYTHONPATH")] if p]),
        )
        self.exports: list[tuple[Path, dict[str, Any]]] = []  # the first is re-imported again and again
        self.import_sizes: dict[str, int] = {}  # import key -> messages in its conversation
        self.prior: dict[str, float] = {}
        self.trial = 0
        self.trial_info: dict[str, Any] = {}
        self.check_times: list[float] = []
        self.kill_phases: Counter[str] = Counter()
        self.op_errors: list[dict[str, Any]] = []
        self.extras: Counter[str] = Counter()
        self._copies: tuple[list[int], list[tuple[int, str]]] = ([], [])
        self._import_keys: set[str] = set()

    # -- helpers -------------------------------------------------------------------

    def app(self):
        from assistant.app import Assistant

        return Assistant(self.data_dir, embedder=self.embedder)

    def token(self, n: int = 9) -> str:
        """A random word: a letter, then letters and digits, ending in a digit (no stemming)."""
        middle = "".join(self.rng.choice(_ALPHABET) for _ in range(n - 2))
        return self.rng.choice(_ALPHABET[:23]) + middle + str(self.rng.randrange(2, 10))

    def msg_text(self) -> str:
        return f"m{self.trial}x{self.token(6)} {self.rng.choice(QUESTIONS)}"

    def worker(self, op: str, *args: str) -> Child:
        return Child([sys.executable, "-m", "bench.crash", "worker", op, *args], self.env)

    def cli(self, *args: str) -> Child:
        return Child([sys.executable, "-m", "assistant.cli", *args], self.env)

    def fail(self, kind: str, key: Any, **detail: Any) -> None:
        full = (kind, key)
        if full in self.state.problems:
            return
        info = self.trial_info
        self.state.problems[full] = {
            "kind": kind,
            "trial": self.trial,
            "op": info.get("op"),
            "kill_delay_s": info.get("kill_delay_s"),
            "kill": info.get("outcome"),
            "phase": info.get("phase"),
            **detail,
        }
        self.progress(f"  FAILURE {kind}: {json.dumps(detail, default=str)[:300]}")

    def typical(self, op: str) -> float:
        """The operation's usual duration: the median of its last few completions (the machine's
        load changes), the seed's measurement until there is one."""
        seen = self.state.durations.get(op, [])[-5:]
        return statistics.median(seen) if seen else self.prior[op]

    # -- seeding ---------------------------------------------------------------------

    def seed_data(self) -> None:
        app = self.app()
        try:
            app.open_memory()
            # Short replies and a small context keep the trials quick (CLI turns use these too).
            app.save_settings(dataclasses.replace(app.settings, max_tokens=32, n_ctx=2048))
            app.memories.add_many([
                {"text": "My sister Jo lives in Lisbon and loves sailing."},
                {"text": "The garden gets sun in the morning only."},
                {"text": "I am allergic to peanuts."},
            ])
        finally:
            app.close()
        # One conversation of two turns through the core, in a worker (unkilled). The second
        # turn measures a turn (the first one of a fresh data dir is slower).
        conv = None
        for text in ("Hello! Which herbs grow well in a shady garden?", "And which of them do cats leave alone?"):
            child = self.worker("turn", f"m0x{self.token(6)} {text}", *(["--conversation", conv] if conv else []))
            ready = child.wait_line("ready", READY_TIMEOUT_S)
            rc = child.finish()
            if ready is None or rc != 0:
                raise RuntimeError(f"the seed turn failed (rc {rc}): {' | '.join(child.err[-5:])}")
            self._ack_worker(child, "seed")
            conv = conv or str(app_conversation(self.data_dir, self.embedder))
        total = child.elapsed
        turn = max(0.3, child.done_at() - ready)  # from `ready` to `closed`
        # A CLI command that loads the embedder, for the priors of the CLI operations.
        cli = self.cli("memory", "add", "I", "keep", "my", "bike", "in", "the", "hall.")
        rc = cli.finish()
        if rc != 0:
            raise RuntimeError(f"the seed CLI command failed (rc {rc}): {' | '.join(cli.err[-5:])}")
        cli_s = cli.elapsed
        self.prior = {
            "turn": turn,
            "regenerate": turn * 1.2,
            "edit_resend": turn * 1.3,
            "cli_turn": cli_s + turn + 1.0,
            "forget": cli_s * 1.1,
            "edit": cli_s * 1.1,
            "import": cli_s * 1.1,
            "import_again": 1.0,
        }
        self.write_export()
        self.progress(
            f"seeded {self.data_dir}: worker turn {turn:.2f}s after ready ({total:.1f}s in all), "
            f"CLI command {cli_s:.1f}s"
        )
        self.check()

    def write_export(self) -> tuple[Path, dict[str, Any]]:
        """An export file of a few conversations and notes with unique markers."""
        n = len(self.exports)
        convs = []
        for c in range(3):
            msgs = []
            for i in range(2 + c):
                role = "user" if i % 2 == 0 else "assistant"
                mark = f"imp{n}y{c}x{self.token(7)}"
                content = (
                    f"{mark} Could you remind me about the {TOPICS[c]} plans?" if role == "user"
                    else f"{mark} Sure: the {TOPICS[c]} plans are set for Saturday."
                )
                msgs.append({"role": role, "content": content, "created": f"2024-0{c + 1}-1{i}T10:00:00+00:00"})
            convs.append({"title": f"Imported {c} {TOPICS[c]}", "created": f"2024-0{c + 1}-10T09:00:00+00:00", "messages": msgs})
        notes = [
            {"text": f"impnote{k}x{self.token(7)} The {TOPICS[k + 5]} key hangs by the door.",
             "created": f"2024-05-0{k + 1}T08:00:00+00:00", "pinned": False, "excluded": False, "source": "import"}
            for k in range(2)
        ]
        data = {"format": "glassmind-export", "version": 1, "conversations": convs, "notes": notes}
        path = self.work_dir / f"crash-export-{n}.json"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        self.exports.append((path, data))
        for conv in convs:
            self.import_sizes[_key(conv)] = len(conv["messages"])
        return path, data

    # -- trials ------------------------------------------------------------------------------

    def run_trial(self, trial: int, op: str, kill: bool, u: float) -> dict[str, Any]:
        self.trial = trial
        info: dict[str, Any] = {"trial": trial, "op": op, "kill_planned": kill, "u": round(u, 4)}
        self.trial_info = info
        t0 = time.monotonic()
        child = getattr(self, f"op_{op}")(info, kill, u)
        info["elapsed_s"] = round(time.monotonic() - t0, 2)
        if child is not None:
            info["rc"] = child.proc.returncode
            if child.proc.returncode not in (0, -signal.SIGKILL) and not (op == "cli_turn" and child.proc.returncode == 1):
                err = {"trial": trial, "op": op, "rc": child.proc.returncode, "stderr": child.err[-6:]}
                self.op_errors.append(err)
                self.progress(f"  op error: {json.dumps(err)[:400]}")
        c0 = time.monotonic()
        self.check()
        self.check_times.append(time.monotonic() - c0)
        info["check_s"] = round(time.monotonic() - c0, 2)
        return info

    def _run_child(
        self, child: Child, info: dict[str, Any], op: str, kill: bool, u: float, timing: str | None = None
    ) -> Child:
        """Kill ``child`` at the planned moment (or let it finish) and record what happened."""
        worker = op in WORKER_OPS
        op = timing or op  # the durations it is timed against
        if worker:
            ready = child.wait_line("ready", READY_TIMEOUT_S)
            if ready is None:
                if child.kill():  # still running: stuck while setting up
                    self.fail("hangs", (self.trial, "ready"), detail="worker never became ready", stderr=child.err[-6:])
                child.finish()  # else it died before `ready`: run_trial reports its exit status
                info["outcome"] = "no_ready"
                return child
            start = ready
            span = WORKER_KILL_SPAN * self.typical(op)
        else:
            start = child.t0
            span = CLI_KILL_SPAN * self.typical(op)
        if kill:
            delay = u * span
            info["kill_delay_s"] = round(delay, 3)
            info["kill_from"] = "ready" if worker else "start"
            exited = child.sleep_until(start + delay)
            landed = False if exited else child.kill()
            info["phase"] = child.phase() if worker else ("exited" if not landed else "running")
            # A worker that printed `closed` had finished; only the interpreter's exit was left.
            done = not landed or (worker and info["phase"] == "closed")
            info["outcome"] = "after_finished" if done else "mid_operation"
            rc = child.finish()
            if not landed and rc == 0:
                self.state.durations.setdefault(op, []).append(
                    child.elapsed if not worker else max(0.05, child.done_at() - start)
                )
            if landed and worker:
                self.kill_phases[f"{info['op']}:{info['phase']}"] += 1
                closed = child.wait_line("closed", 0)
                if closed is not None:
                    self.state.durations.setdefault(op, []).append(max(0.05, closed - start))
        else:
            info["outcome"] = "not_killed"
            rc = child.finish()
            if rc is None:
                self.fail("hangs", (self.trial, "finish"), detail="operation did not finish", stderr=child.err[-6:])
            elif rc == 0:
                end = child.done_at() if worker else time.monotonic()
                self.state.durations.setdefault(op, []).append(max(0.05, end - start) if worker else child.elapsed)
        return child

    def _ack_worker(self, child: Child, origin: str, text: str | None = None) -> None:
        for word, rest in child.parsed():
            if word == "stored":
                mid = int(rest.split()[0])
                if mid:
                    self.state.expected.setdefault(mid, (text, f"{origin} stored (trial {self.trial})"))
            elif word == "finished":
                mid_s, _, reply = rest.partition(" ")
                self.state.expected[int(mid_s)] = (json.loads(reply), f"{origin} reply (trial {self.trial})")

    def _pick_conversation(self, app: Any, *, with_messages: bool = False) -> int | None:
        convs = app.store.conversations()
        if with_messages:
            convs = [c for c in convs if app.store.message_count(c.id)]
        return self.rng.choice(convs).id if convs else None

    def _turn_target(self, info: dict[str, Any]) -> tuple[str, list[str]]:
        """A new message and, most of the time, an existing conversation to send it to."""
        app = self.app()
        try:
            conv = None if self.rng.random() < 0.3 else self._pick_conversation(app)
        finally:
            app.close()
        text = self.msg_text()
        info.update(conversation=conv, text=text)
        return text, (["--conversation", str(conv)] if conv is not None else [])

    # turn (worker)
    def op_turn(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        text, conv_args = self._turn_target(info)
        child = self._run_child(self.worker("turn", text, *conv_args), info, "turn", kill, u)
        self._ack_worker(child, "turn", text)
        return child

    # CLI turn
    def op_cli_turn(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        text, conv_args = self._turn_target(info)
        child = self._run_child(self.cli("chat", "--once", text, *conv_args), info, "cli_turn", kill, u)
        if child.proc.returncode in (0, 1):  # exited by itself: the message was stored
            self.state.pending_texts.append((text, f"cli_turn exited {child.proc.returncode} (trial {self.trial})"))
        return child

    # regenerate (worker)
    def op_regenerate(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        app = self.app()
        try:
            conv = self._pick_conversation(app, with_messages=True)
            msgs = app.store.messages(conv) if conv is not None else []
        finally:
            app.close()
        # What regenerate replaces: the replies after the last user message.
        while msgs and msgs[-1].role != "user":
            gone = msgs.pop()
            self.state.removed.add(gone.id)
            self.state.removed_texts.add(gone.content)
        info.update(conversation=conv)
        child = self._run_child(self.worker("regenerate", str(conv)), info, "regenerate", kill, u)
        self._ack_worker(child, "regenerate")
        return child

    # edit and resend (worker)
    def op_edit_resend(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        app = self.app()
        try:
            users = []
            for _ in range(5):
                conv = self._pick_conversation(app, with_messages=True)
                users = [m for m in app.store.messages(conv) if m.role == "user"] if conv else []
                if users:
                    break
            if users:
                target = users[-1] if self.rng.random() < 0.7 else self.rng.choice(users)
                later_msgs = [m for m in app.store.messages(target.conversation_id) if m.id >= target.id]
                later = [m.id for m in later_msgs]
        finally:
            app.close()
        if not users:
            info["skipped"] = "no user message: a turn instead"
            return self.op_turn(info, kill, u)
        self.state.removed.update(later)
        self.state.removed_texts.update(m.content for m in later_msgs)
        text = self.msg_text()
        info.update(message_id=target.id, removes=later, text=text)
        child = self._run_child(self.worker("edit_resend", str(target.id), text), info, "edit_resend", kill, u)
        self._ack_worker(child, "edit_resend", text)
        return child

    # secrets: forget and edit
    def _new_secret(self, app: Any) -> Secret:
        sid = len(self.state.secrets) + 1
        token = self.token(10)
        topic = f"{self.rng.choice(TOPICS)}"
        m1 = f"secret-{self.trial}-{token}"
        if self.rng.random() < 0.5:
            markers = [m1]
            text = f"The code word for the {topic} locker is {m1}."
        else:
            markers = [m1, f"{m1}-b"]
            text = f"line one {m1} for the {topic} locker\nline two {m1}-b"
        secret = Secret(sid, markers, text, token, self.trial)
        secret.note_id = app.memories.add(text).id
        self.state.secrets.append(secret)
        return secret

    def _pick_secret(self, app: Any) -> Secret:
        live = [s for s in self.state.secrets if s.status == "live" and s.note_id is not None]
        live = [s for s in live if app.memories.get_many([s.note_id])]
        if live and self.rng.random() < 0.5:
            return self.rng.choice(live)
        return self._new_secret(app)

    def _prepare_secret(self, info: dict[str, Any]) -> Secret:
        app = self.app()
        try:
            app.open_memory()
            secret = self._pick_secret(app)
        finally:
            app.close()
        info.update(secret=secret.sid, note_id=secret.note_id, markers=secret.markers)
        if self.rng.random() < 0.4:
            # A turn that retrieves the note: the secret lands in the recorded prompt.
            topic = next((t for t in TOPICS if t in secret.text), "locker")
            text = f"m{self.trial}x{self.token(6)} What is the code word for the {topic} locker?"
            app = self.app()
            try:
                conv = None if self.rng.random() < 0.5 else self._pick_conversation(app)
            finally:
                app.close()
            child = self.worker("turn", text, *(["--conversation", str(conv)] if conv is not None else []))
            ready = child.wait_line("ready", READY_TIMEOUT_S)
            rc = child.finish()
            if rc == 0 and ready is not None and child.lines:
                self.state.durations.setdefault("turn", []).append(max(0.05, child.done_at() - ready))
            self._ack_worker(child, "setup turn", text)
            info["setup_turn_rc"] = rc
            info["setup_turn_s"] = round(child.elapsed, 2)
            self.extras["setup_turns"] += 1
        app = self.app()
        try:
            app.open_memory()
            if self.rng.random() < 0.4:
                app.store.backups.make(app.store.db.conn, "test")
                secret.in_backup = True
                info["backup"] = True
                self.extras["backups_made"] += 1
            like = [f"%{n}%" for n in secret.search_needles()]
            hit = app.store.query(
                "SELECT count(*) AS n FROM turns WHERE " + " OR ".join("prompt LIKE ?" for _ in like), like
            )[0]["n"]
            secret.in_prompt = secret.in_prompt or bool(hit)
            info["in_prompts"] = hit
            ids: set[int] = set()
            for needle in secret.search_needles():
                ids.update(m.id for m in app.memories.browse(search=needle))
            mems = app.memories.get_many(ids)
            info["copies"] = sorted(ids)
        finally:
            app.close()
        self._copies = (sorted(ids), [(m.message_id, m.text) for m in mems.values() if m.message_id is not None])
        return secret

    def op_forget(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        secret = self._prepare_secret(info)
        ids, message_ids = self._copies
        self.state.removed.update(i for i, _ in message_ids)
        self.state.removed_texts.update(t for _, t in message_ids)
        secret.status, secret.via, secret.changed_in = "forgetting", "forget", self.trial
        self.extras["forgets_with_prompt_copy"] += int(secret.in_prompt)
        self.extras["forgets_with_backup"] += int(secret.in_backup)
        child = self._run_child(self.cli("memory", "forget", *map(str, ids)), info, "forget", kill, u)
        info["forget_rc"] = child.proc.returncode
        return child

    def op_edit(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        secret = self._prepare_secret(info)
        token = self.token(10)
        topic = next((t for t in TOPICS if t in secret.text), "blue")
        marker = f"secret-{self.trial}-{token}"
        new_text = f"The code word for the {topic} locker is now {marker}."
        new = Secret(len(self.state.secrets) + 1, [marker], new_text, token, self.trial, note_id=secret.note_id)
        new.status = "pending"
        self.state.secrets.append(new)
        secret.status, secret.via, secret.changed_in = "editing", "edit", self.trial
        secret.edited_to = new
        info["new_secret"] = new.sid
        child = self._run_child(self.cli("memory", "edit", str(secret.note_id), new_text), info, "edit", kill, u)
        info["edit_rc"] = child.proc.returncode
        return child

    # import
    def op_import(self, info: dict[str, Any], kill: bool, u: float) -> Child:
        # Mostly the first export again (it must add nothing once imported); sometimes a new one,
        # so that kills also land in imports that write.
        if self.rng.random() < 0.3:
            path, data = self.write_export()
        else:
            path, data = self.exports[0] if self.rng.random() < 0.7 else self.rng.choice(self.exports)
        keys = {_key(c) for c in data["conversations"]}
        again = keys <= self.state.import_keys_seen
        info.update(file=path.name, again=again)
        self._import_keys = keys
        child = self._run_child(self.cli("import", str(path)), info, "import", kill, u, "import_again" if again else "import")
        if child.proc.returncode == 0:
            for conv in data["conversations"]:
                for m in conv["messages"]:
                    self.state.pending_texts.append((m["content"], f"import exited 0 (trial {self.trial})"))
            info["summary"] = next((line for _, line in child.lines if line.startswith("Imported")), None)
        return child

    # -- the check ("the next start") ----------------------------------------------------------------

    def check(self) -> None:
        import numpy as np

        from assistant.transfer import conversation_key

        st = self.state
        try:
            app = self.app()
        except Exception as exc:  # the next start failed: the data dir is broken
            self.fail("integrity_failures", (self.trial, "open"), detail=f"the next start failed: {exc}")
            raise _Abort(str(exc)) from exc
        try:
            for notice in app.store.notices:
                st.notices.append(f"trial {self.trial}: {notice}")
                self.progress(f"  notice: {notice}")
            self._integrity(app.store.path)
            app.open_memory()

            messages = {r["id"]: r for r in app.store.query("SELECT id, conversation_id, role, content FROM messages")}
            memories = {r["id"]: r for r in app.store.query("SELECT id, kind, text, message_id FROM memories")}
            key = app.memories.model_key
            vectors = {r["memory_id"] for r in app.store.query("SELECT memory_id FROM memory_vectors WHERE model = ?", [key])}
            all_vectors = {r["memory_id"] for r in app.store.query("SELECT memory_id FROM memory_vectors")}
            index_ids_arr = app.memories.index.ids()
            index_ids = {int(i) for i in index_ids_arr}

            # lost messages
            for mid, (content, origin) in sorted(st.expected.items()):
                if mid in st.removed:
                    continue
                row = messages.get(mid)
                if row is None:
                    self.fail("lost_messages", ("id", mid), message_id=mid, expected=content, origin=origin)
                elif content is not None and row["content"] != content:
                    self.fail("lost_messages", ("id", mid), message_id=mid, expected=content, found=row["content"], origin=origin)
            contents = Counter(r["content"] for r in messages.values())
            if self.trial_info.get("op") == "cli_turn":
                self.trial_info["effect"] = "stored" if contents.get(self.trial_info.get("text")) else "none"
            for text, origin in st.pending_texts:
                if not contents.get(text) and text not in st.removed_texts:
                    self.fail("lost_messages", ("text", text), text=text, origin=origin)
            st.pending_texts.clear()
            for mid, row in messages.items():
                if mid not in st.expected:
                    st.expected[mid] = (row["content"], f"seen at check {self.trial}")

            # unindexed
            by_message: dict[int, list[int]] = {}
            for mem in memories.values():
                if mem["kind"] == "message" and mem["message_id"] is not None:
                    by_message.setdefault(mem["message_id"], []).append(mem["id"])
            for mid, row in messages.items():
                if not (row["content"] or "").strip():
                    continue
                mems = by_message.get(mid, [])
                if len(mems) != 1:
                    self.fail("unindexed", ("message", mid), message_id=mid, memory_ids=mems,
                              detail="no memory row" if not mems else "several memory rows")
                    continue
                self._check_memory(app, memories[mems[0]], vectors, index_ids, message_id=mid)
            for mem in memories.values():
                if mem["kind"] != "message" or mem["message_id"] not in messages:
                    if mem["kind"] == "message":
                        self.fail("unindexed", ("stale", mem["id"]), memory_id=mem["id"],
                                  detail="a message memory whose message is gone")
                    self._check_memory(app, mem, vectors, index_ids)

            # index divergence
            dups = len(index_ids_arr) - len(index_ids)
            if dups:
                self.fail("index_divergent", ("dup", self.trial), detail=f"{dups} duplicate ids in the FAISS index")
            for i in sorted(index_ids - vectors):
                self.fail("index_divergent", ("extra", i), memory_id=i, detail="in the FAISS index without a vector",
                          memory_exists=i in memories)
            for i in sorted(vectors - index_ids):
                self.fail("index_divergent", ("missing", i), memory_id=i, detail="vector stored but not in the FAISS index")
            for i in sorted(all_vectors - set(memories)):
                self.fail("index_divergent", ("orphan", i), memory_id=i, detail="a vector row without its memory")
            if index_ids:
                q = self.embedder.encode(["what is the code word for the locker"])[0]
                ids, _ = app.memories.index.search(np.asarray(q, dtype=np.float32), len(index_ids_arr))
                for i in sorted({int(x) for x in ids} - set(memories)):
                    self.fail("index_divergent", ("dense", i), memory_id=i, detail="dense search returned a forgotten id")

            # duplicate and partial imports
            convs = app.store.query("SELECT id, created, import_key FROM conversations")
            msgs_by_conv: dict[int, list[tuple[str, str, str]]] = {}
            for r in app.store.query("SELECT conversation_id, role, content, created FROM messages ORDER BY conversation_id, id"):
                msgs_by_conv.setdefault(r["conversation_id"], []).append((r["role"], r["content"], r["created"]))
            by_import = Counter(c["import_key"] for c in convs if c["import_key"])
            for k, n in by_import.items():
                if n > 1:
                    self.fail("duplicate_imports", ("key", k, n), import_key=k, copies=n)
            prints = Counter(
                conversation_key(c["created"], msgs_by_conv[c["id"]]) for c in convs if msgs_by_conv.get(c["id"])
            )
            for k, n in prints.items():
                if n > 1:
                    self.fail("duplicate_imports", ("print", k, n), fingerprint=k, copies=n)
            notes = Counter(
                (r["text"], r["created"]) for r in app.store.query("SELECT text, created FROM memories WHERE kind = 'note'")
            )
            for (text, _created), n in notes.items():
                if n > 1 and text.startswith("impnote"):
                    self.fail("duplicate_imports", ("note", text, n), note=text, copies=n)
            before = set(st.import_keys_seen)
            for c in convs:
                k = c["import_key"]
                if k and k not in st.import_keys_seen:
                    st.import_keys_seen.add(k)
                    want = self.import_sizes.get(k)
                    have = len(msgs_by_conv.get(c["id"], []))
                    if want is not None and have != want:
                        self.fail("partial_imports", ("conv", c["id"]), conversation_id=c["id"], messages=have, expected=want)
            if self.trial_info.get("op") == "import":
                keys = self._import_keys
                if self.trial_info.get("rc") == 0 and not keys <= set(by_import):
                    self.fail("unapplied", (self.trial, "import"), detail="import exited 0 but its conversations are missing")
                self.trial_info["effect"] = (
                    "already" if keys <= before else "imported" if keys <= set(by_import) else "none"
                )

            # secrets: which forgets and edits have taken effect
            self._update_secrets(app)
        finally:
            app.close()
        self._scan_files()

    def _integrity(self, path: Path) -> None:
        """SQLite's and FTS5's own integrity checks, on a connection of their own."""
        import sqlite3

        conn = sqlite3.connect(path, isolation_level=None)
        try:
            result = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
            if result != ["ok"]:
                self.fail("integrity_failures", (self.trial, "sqlite"), detail=result[:10])
            try:
                conn.execute("INSERT INTO memories_fts(memories_fts) VALUES('integrity-check')")
            except sqlite3.Error as exc:
                self.fail("integrity_failures", (self.trial, "fts"), detail=f"FTS5 integrity-check: {exc}")
        finally:
            conn.close()

    def _check_memory(self, app: Any, mem: dict[str, Any], vectors: set[int], index_ids: set[int],
                      message_id: int | None = None) -> None:
        mid = mem["id"]
        where = {"memory_id": mid, "kind": mem["kind"], "message_id": message_id}
        if mid not in vectors:
            self.fail("unindexed", ("vector", mid), **where, detail="no vector")
        elif mid not in index_ids:
            self.fail("unindexed", ("faiss", mid), **where, detail="not in the FAISS index")
        words = sorted(set(_words(mem["text"])), key=len, reverse=True)
        if words:
            hit = app.store.query(
                "SELECT rowid FROM memories_fts WHERE memories_fts MATCH ? AND rowid = ?", ['"' + words[0] + '"', mid]
            )
            if not hit:
                self.fail("unindexed", ("fts", mid), **where, word=words[0], detail="keyword search does not find it")

    def _present(self, app: Any, needles: Sequence[str]) -> bool:
        for needle in needles:
            like = f"%{needle}%"
            if app.store.query(
                "SELECT 1 FROM memories WHERE text LIKE ? UNION ALL SELECT 1 FROM messages WHERE content LIKE ? LIMIT 1",
                [like, like],
            ):
                return True
        return False

    def _update_secrets(self, app: Any) -> None:
        for s in self.state.secrets:
            if s.status == "pending":
                continue
            if s.status == "editing":
                new = s.edited_to
                assert new is not None
                note = app.memories.get_many([s.note_id]).get(s.note_id)
                applied = note is not None and note.text == new.text
                if s.changed_in == self.trial:
                    self.trial_info["effect"] = "edited" if applied else "none"
                if applied:
                    s.status, new.status = "edited", "live"
                else:
                    s.status, new.status = "live", "dropped"
                    if self.trial_info.get("op") == "edit" and self.trial_info.get("rc") == 0:
                        self.fail("unapplied", (self.trial, "edit"), secret=s.sid, detail="edit exited 0, new text absent")
            if s.status == "forgetting":
                s.status = "forgotten"
                if s.changed_in == self.trial:
                    self.trial_info["effect"] = "none" if self._present(app, s.search_needles()) else "forgotten"
            if s.status in ("forgotten", "edited"):
                if self._present(app, s.search_needles()):
                    if s.status == "forgotten":
                        s.status = "live"  # killed before it took effect: it may be forgotten again
                        if self.trial_info.get("op") == "forget" and self.trial_info.get("rc") == 0:
                            self.fail("unapplied", (self.trial, "forget"), secret=s.sid,
                                      detail="forget exited 0 but a memory still holds the secret")
                    continue  # an edit whose old text survives in a reply: not erased, nothing to check
                s.status, s.erased_in = "erased", self.trial
                self.extras["secrets_erased"] += 1

    def _scan_files(self) -> None:
        erased = [s for s in self.state.secrets if s.status == "erased"]
        if not erased:
            return
        needles = {s.sid: [n.encode("utf-8") for n in s.needles()] for s in erased}
        for path in sorted(p for p in self.data_dir.rglob("*") if p.is_file()):
            rel = str(path.relative_to(self.data_dir))
            try:
                stat = path.stat()
                sig = (stat.st_size, stat.st_mtime_ns, stat.st_ino)
                old_sig, done = self.state.scanned.get(rel, (None, set()))
                todo = [s for s in erased if sig != old_sig or s.sid not in done]
                if not todo:
                    continue
                data = path.read_bytes()
            except OSError:
                continue
            for s in todo:
                found = [n.decode() for n in needles[s.sid] if n in data]
                if found and ("leaked_files", (s.sid, rel)) not in self.state.problems:
                    where = sorted({data.find(n) // 4096 + 1 for n in needles[s.sid] if n in data})
                    evidence = self.work_dir / "evidence" / f"trial{self.trial}-secret{s.sid}-{path.name}"
                    evidence.parent.mkdir(exist_ok=True)
                    evidence.write_bytes(data)  # the file as found, for a developer to open
                    self.fail("leaked_files", (s.sid, rel), file=rel, secret=s.sid, found=found, pages=where,
                              secret_text=s.text, secret_trial=s.trial, via=s.via, changed_in=s.changed_in,
                              erased_in=s.erased_in, in_prompt=s.in_prompt, in_backup=s.in_backup,
                              evidence=str(evidence))
            self.state.scanned[rel] = (sig, (done if sig == old_sig else set()) | {s.sid for s in todo})


class _Abort(Exception):
    pass


def app_conversation(data_dir: Path, embedder: Any) -> int:
    """The id of the newest conversation."""
    from assistant.app import Assistant

    app = Assistant(data_dir, embedder=embedder)
    try:
        return app.store.conversations()[0].id
    finally:
        app.close()


def _key(conv: dict[str, Any]) -> str:
    from assistant.transfer import conversation_key

    return conversation_key(conv["created"], [(m["role"], m["content"], m["created"]) for m in conv["messages"]])


def _words(text: str) -> list[str]:
    import re

    return [w for w in re.findall(r"[A-Za-z0-9]+", text or "") if len(w) >= 2]


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


def run(
    trials: int = 200,
    seed: int = 0,
    data_dir: str | Path | None = None,
    progress: Progress = print,
    *,
    embedder: Any = None,
    keep: bool | None = None,
    ops: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run the harness; returns the figures (see the module's docstring).

    With ``data_dir`` None a temporary one is made, and removed at the end unless a failure
    was found (or ``keep``); a given ``data_dir`` is always kept.
    """
    start = time.monotonic()
    own_dir = data_dir is None
    work = Path(tempfile.mkdtemp(prefix="glassmind-crash-"))
    home = Path(data_dir) if data_dir is not None else work / "home"
    home.mkdir(parents=True, exist_ok=True)
    if embedder is None:
        from models.embedder import Embedder

        embedder = Embedder()
    embedder.load()
    h = Harness(home, work, seed, embedder, progress)
    schedule = plan(trials, seed, ops)
    log: list[dict[str, Any]] = []
    aborted = None
    try:
        h.seed_data()
        for n, (op, kill, u) in enumerate(schedule, 1):
            info = h.run_trial(n, op, kill, u)
            log.append(info)
            delay = f"kill {info['kill_delay_s']:.2f}s after {info.get('kill_from')}" if "kill_delay_s" in info else "no kill"
            progress(f"trial {n}/{trials} {op:<11} {delay:<26} {info.get('outcome', ''):<14} "
                     f"{info.get('phase', ''):<9} {info.get('effect', ''):<9} {info['elapsed_s']:.1f}s")
    except _Abort as exc:
        aborted = str(exc)
    elapsed = time.monotonic() - start
    counts = Counter(p["kind"] for p in h.state.problems.values())
    ops: dict[str, dict[str, int]] = {op: {"trials": 0, "mid_operation": 0, "after_finished": 0, "not_killed": 0} for op in OPS}
    for info in log:
        ops[info["op"]]["trials"] += 1
        if info.get("outcome") in ("mid_operation", "after_finished", "not_killed"):
            ops[info["op"]][info["outcome"]] += 1
    kills = Counter(info.get("outcome", "other") for info in log)
    failures = sorted(h.state.problems.values(), key=lambda p: (p["trial"], p["kind"]))
    result: dict[str, Any] = {
        "trials": len(log),
        **{k: counts.get(k, 0) for k in FAILURE_KINDS},
        "ok": not failures and aborted is None,
        "ops": ops,
        "kills": {"mid_operation": kills["mid_operation"], "after_finished": kills["after_finished"],
                  "not_killed": kills["not_killed"]},
        "kill_phases": dict(sorted(h.kill_phases.items())),
        "elapsed_s": round(elapsed, 1),
        "seconds_per_trial": round(elapsed / max(1, len(log)), 2),
        "check_s_mean": round(statistics.mean(h.check_times), 3) if h.check_times else None,
        "typical_s": {op: round(h.typical(op), 2) for op in OPS} if h.prior else {},
        "secrets": {"created": len([s for s in h.state.secrets if s.status != "dropped"]),
                    "erased": h.extras["secrets_erased"]},
        "extras": dict(h.extras),
        "op_errors": h.op_errors,
        "notices": h.state.notices,
        "seed": seed,
        "aborted": aborted,
        "data_dir": str(home),
        "failures": failures,
        "log": log,
    }
    keep_dir = keep if keep is not None else bool(failures or aborted)
    result["work_dir"] = str(work)  # export files, and copies of files found leaking (evidence/)
    if not keep_dir:
        shutil.rmtree(work, ignore_errors=True)
        result["work_dir"] = None
        if own_dir:
            result["data_dir"] = None
    return result


def _report(r: dict[str, Any], out: Any = sys.stdout) -> None:
    print(f"{r['trials']} trials in {r['elapsed_s']:.0f}s ({r['seconds_per_trial']:.1f}s per trial, "
          f"check {r['check_s_mean']}s)", file=out)
    for k in ("lost_messages", "unindexed", "leaked_files", "index_divergent", "integrity_failures",
              "duplicate_imports", "partial_imports", "unapplied", "hangs"):
        print(f"  {k:<20} {r[k]}", file=out)
    print(f"  kills: {r['kills']}", file=out)
    for op, c in r["ops"].items():
        print(f"    {op:<12} {c['trials']:>4} trials: {c['mid_operation']} killed mid-operation, "
              f"{c['after_finished']} after it finished, {c['not_killed']} not killed", file=out)
    print(f"  worker kill phases: {r['kill_phases']}", file=out)
    print(f"  secrets: {r['secrets']}  {r['extras']}", file=out)
    if r["op_errors"]:
        print(f"  operation errors: {len(r['op_errors'])}", file=out)
    for n in r["notices"]:
        print(f"  notice: {n}", file=out)
    for f in r["failures"]:
        print(f"  FAILURE {json.dumps(f, default=str)}", file=out)
    if r["aborted"]:
        print(f"  ABORTED: {r['aborted']}", file=out)
    if r["data_dir"]:
        print(f"  data dir kept: {r['data_dir']}", file=out)
    if r.get("work_dir"):
        print(f"  work dir kept (exports, evidence/): {r['work_dir']}", file=out)
    print("OK: every promise held." if r["ok"] else "FAILED.", file=out)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        return worker(argv[1:])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    p = argparse.ArgumentParser(prog="glassmind bench crash", description="kill -9 at random moments; check the promises")
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.add_argument("--data-dir", help="use (and keep) this data dir instead of a temporary one")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir even when all is well")
    p.add_argument("--ops", help=f"only these operations, comma-separated ({','.join(OPS)})")
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error("--trials must be at least 1")
    ops = [o.strip() for o in args.ops.split(",") if o.strip()] if args.ops else None
    unknown = sorted(set(ops or []) - set(OPS))
    if unknown:
        p.error(f"unknown operation(s) {', '.join(unknown)}: choose from {', '.join(OPS)}")
    progress: Progress = (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    result = run(args.trials, args.seed, args.data_dir, progress, keep=True if args.keep else None, ops=ops)
    if args.json:
        print(json.dumps(result, default=str))
    else:
        _report(result)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
