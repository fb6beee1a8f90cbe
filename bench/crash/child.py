"""A child process of the harness (a worker or a CLI command), its output time-stamped as it arrives."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240.0
FINISH_TIMEOUT_S = 300.0


# What a forked child finds imported already (see Forked): the slow imports of every child.
PRELOAD = ["torch", "sentence_transformers", "llama_cpp", "assistant.cli", "bench.crash.cli"]


def _forked_main(module: str, args: list[str], out: Any, err: Any, env: dict[str, str]) -> None:
    """The start of a forked child: its stdout and stderr are the harness's pipes, its
    environment and directory those a started process would have, then the program's main."""
    os.dup2(out.fileno(), 1)
    os.dup2(err.fileno(), 2)
    out.close()
    err.close()
    os.chdir(REPO)
    os.environ.clear()
    os.environ.update(env)
    if module == "assistant.cli":
        from assistant.cli import main
    else:
        from bench.crash.cli import main
    code = main(args)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


class Forked:
    """A child forked from a server process that has imported torch, sentence-transformers and
    llama.cpp (``multiprocessing``'s forkserver), with ``subprocess.Popen``'s face: a new process
    that is killed with SIGKILL like any other, without the ~6 s of imports each start pays.

    Only ``python -m <module> args`` of assistant.cli and bench.crash run this way.
    """

    _context: Any = None

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        import multiprocessing

        if Forked._context is None:
            Forked._context = multiprocessing.get_context("forkserver")
            Forked._context.set_forkserver_preload(PRELOAD)
        ctx = Forked._context
        assert argv[1] == "-m" and argv[2] in ("assistant.cli", "bench.crash"), argv
        self.args = argv
        out_r, out_w = ctx.Pipe(duplex=False)
        err_r, err_w = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_forked_main, args=(argv[2], argv[3:], out_w, err_w, env))
        self.process.start()
        out_w.close()  # the child holds the only write ends: its exit ends the output
        err_w.close()
        self.stdout = open(os.dup(out_r.fileno()), encoding="utf-8", errors="replace")  # noqa: SIM115
        self.stderr = open(os.dup(err_r.fileno()), encoding="utf-8", errors="replace")  # noqa: SIM115
        out_r.close()
        err_r.close()
        self.pid = self.process.pid

    @property
    def returncode(self) -> int | None:
        code: int | None = self.process.exitcode
        return code

    def poll(self) -> int | None:
        code: int | None = self.process.exitcode
        return code

    def wait(self, timeout: float | None = None) -> int:
        self.process.join(timeout)
        if self.process.exitcode is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0.0)
        code: int = self.process.exitcode
        return code

    def send_signal(self, sig: int) -> None:
        if self.process.exitcode is not None:
            raise ProcessLookupError(self.pid)
        os.kill(self.pid, sig)


class Child:
    """A child process whose stdout lines are time-stamped as they arrive: started as a new
    interpreter, or (``forked``) forked from a server that has the slow imports done."""

    def __init__(self, argv: list[str], env: dict[str, str], *, forked: bool = False) -> None:
        self.argv = argv
        self.t0 = time.monotonic()
        self.proc: subprocess.Popen[str] | Forked
        if forked:
            self.proc = Forked(argv, env)
        else:
            self.proc = subprocess.Popen(
                argv,
                cwd=REPO,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                encoding="utf-8",
                errors="replace",
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
