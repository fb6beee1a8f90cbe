"""The trial driver: ``run`` seeds a data dir, then runs the planned trials, each followed by the check."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.crash.checks import check
from bench.crash.child import READY_TIMEOUT_S, REPO, Child
from bench.crash.operations import OPERATIONS
from bench.crash.report import figures
from bench.crash.schedule import CLI_KILL_SPAN, WORKER_KILL_SPAN, WORKER_OPS, plan
from bench.crash.state import ALPHABET, QUESTIONS, TOPICS, Abort, Progress, State, import_key

if TYPE_CHECKING:
    from assistant.app import Assistant


class Harness:
    """One run's data dir, its child processes and what it has learnt; a trial at a time."""

    def __init__(
        self, data_dir: Path, work_dir: Path, seed: int, embedder: Any, progress: Progress, *, forked: bool = True
    ) -> None:
        self.data_dir = data_dir
        self.forked = forked  # children forked from a server with the imports done (child.Forked)
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
        # What the next forget erases: memory ids, and (message id, text) of the messages among them.
        self.copies: tuple[list[int], list[tuple[int, str]]] = ([], [])
        self.import_keys: set[str] = set()  # of the export the trial imports

    # -- helpers -------------------------------------------------------------------

    def app(self) -> Assistant:
        from assistant.app import Assistant

        return Assistant(self.data_dir, embedder=self.embedder)

    def token(self, n: int = 9) -> str:
        """A random word: a letter, then letters and digits, ending in a digit (no stemming)."""
        middle = "".join(self.rng.choice(ALPHABET) for _ in range(n - 2))
        return self.rng.choice(ALPHABET[:23]) + middle + str(self.rng.randrange(2, 10))

    def msg_text(self) -> str:
        return f"m{self.trial}x{self.token(6)} {self.rng.choice(QUESTIONS)}"

    def worker(self, op: str, *args: str) -> Child:
        return Child([sys.executable, "-m", "bench.crash", "worker", op, *args], self.env, forked=self.forked)

    def cli(self, *args: str) -> Child:
        return Child([sys.executable, "-m", "assistant.cli", *args], self.env, forked=self.forked)

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
            app.memories.add_many(
                [
                    {"text": "My sister Jo lives in Lisbon and loves sailing."},
                    {"text": "The garden gets sun in the morning only."},
                    {"text": "I am allergic to peanuts."},
                ]
            )
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
            self.ack_worker(child, "seed")
            conv = conv or str(app_conversation(self.data_dir, self.embedder))
        assert ready is not None  # checked in the loop
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
            "approve": cli_s * 1.1,
            "restore": cli_s * 1.1,
            "forget_race": cli_s * 1.1,
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
                    f"{mark} Could you remind me about the {TOPICS[c]} plans?"
                    if role == "user"
                    else f"{mark} Sure: the {TOPICS[c]} plans are set for Saturday."
                )
                msgs.append({"role": role, "content": content, "created": f"2024-0{c + 1}-1{i}T10:00:00+00:00"})
            convs.append(
                {"title": f"Imported {c} {TOPICS[c]}", "created": f"2024-0{c + 1}-10T09:00:00+00:00", "messages": msgs}
            )
        notes = [
            {
                "text": f"impnote{k}x{self.token(7)} The {TOPICS[k + 5]} key hangs by the door.",
                "created": f"2024-05-0{k + 1}T08:00:00+00:00",
                "pinned": False,
                "excluded": False,
                "source": "import",
            }
            for k in range(2)
        ]
        data = {"format": "glassmind-export", "version": 1, "conversations": convs, "notes": notes}
        path = self.work_dir / f"crash-export-{n}.json"
        path.write_text(json.dumps(data, indent=2), encoding="utf-8")
        self.exports.append((path, data))
        for conv in convs:
            self.import_sizes[import_key(conv)] = len(conv["messages"])
        return path, data

    # -- trials ------------------------------------------------------------------------------

    def run_trial(self, trial: int, op: str, kill: bool, u: float) -> dict[str, Any]:
        self.trial = trial
        info: dict[str, Any] = {"trial": trial, "op": op, "kill_planned": kill, "u": round(u, 4)}
        self.trial_info = info
        t0 = time.monotonic()
        child = OPERATIONS[op](self, info, kill, u)
        info["elapsed_s"] = round(time.monotonic() - t0, 2)
        if child is not None:
            info["rc"] = child.proc.returncode
            if child.proc.returncode not in (0, -signal.SIGKILL) and not (
                op == "cli_turn" and child.proc.returncode == 1
            ):
                err = {"trial": trial, "op": op, "rc": child.proc.returncode, "stderr": child.err[-6:]}
                self.op_errors.append(err)
                self.progress(f"  op error: {json.dumps(err)[:400]}")
        c0 = time.monotonic()
        self.check()
        self.check_times.append(time.monotonic() - c0)
        info["check_s"] = round(time.monotonic() - c0, 2)
        return info

    def run_child(
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

    def ack_worker(self, child: Child, origin: str, text: str | None = None) -> None:
        for word, rest in child.parsed():
            if word == "stored":
                mid = int(rest.split()[0])
                if mid:
                    self.state.expected.setdefault(mid, (text, f"{origin} stored (trial {self.trial})"))
            elif word == "finished":
                mid_s, _, reply = rest.partition(" ")
                self.state.expected[int(mid_s)] = (json.loads(reply), f"{origin} reply (trial {self.trial})")

    # -- the check ("the next start") -------------------------------------------------------------

    def check(self) -> None:
        check(self)


def app_conversation(data_dir: Path, embedder: Any) -> int:
    """The id of the newest conversation."""
    from assistant.app import Assistant

    app = Assistant(data_dir, embedder=embedder)
    try:
        return app.store.conversations()[0].id
    finally:
        app.close()


def run(
    trials: int = 200,
    seed: int = 0,
    data_dir: str | Path | None = None,
    progress: Progress = print,
    *,
    embedder: Any = None,
    keep: bool | None = None,
    ops: Sequence[str] | None = None,
    forked: bool = True,
) -> dict[str, Any]:
    """Run the harness; returns the figures (see the module's docstring).

    With ``data_dir`` None a temporary one is made, and removed at the end unless a failure
    was found (or ``keep``); a given ``data_dir`` is always kept. ``forked=False`` starts every
    child as a new interpreter, as a user's command starts (~6 s of imports each).
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
    h = Harness(home, work, seed, embedder, progress, forked=forked)
    schedule = plan(trials, seed, ops)
    log: list[dict[str, Any]] = []
    aborted = None
    try:
        h.seed_data()
        for n, (op, kill, u) in enumerate(schedule, 1):
            info = h.run_trial(n, op, kill, u)
            log.append(info)
            delay = (
                f"kill {info['kill_delay_s']:.2f}s after {info.get('kill_from')}"
                if "kill_delay_s" in info
                else "no kill"
            )
            progress(
                f"trial {n}/{trials} {op:<11} {delay:<26} {info.get('outcome', ''):<14} "
                f"{info.get('phase', ''):<9} {info.get('effect', ''):<9} {info['elapsed_s']:.1f}s"
            )
    except Abort as exc:
        aborted = str(exc)
    result = figures(h, log, seed=seed, aborted=aborted, elapsed=time.monotonic() - start, home=home)
    keep_dir = keep if keep is not None else bool(result["failures"] or aborted)
    result["work_dir"] = str(work)  # export files, and copies of files found leaking (evidence/)
    if not keep_dir:
        shutil.rmtree(work, ignore_errors=True)
        result["work_dir"] = None
        if own_dir:
            result["data_dir"] = None
    return result
