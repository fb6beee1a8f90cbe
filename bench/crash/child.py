"""A child process of the harness (a worker or a CLI command), its output time-stamped as it arrives."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 240.0
FINISH_TIMEOUT_S = 300.0


class Child:
    """A child process whose stdout lines are time-stamped as they arrive."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.argv = argv
        self.t0 = time.monotonic()
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
