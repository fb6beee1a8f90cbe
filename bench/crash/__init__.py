"""Crash harness: Glassmind's promises must survive `kill -9` at any moment.

One data dir (GLASSMIND_HOME) serves the whole run, so damage accumulates as it
would in a real user's data. Each trial picks an operation, runs it in a child
process (a chat turn in a worker, a CLI turn, forget, edit, regenerate,
edit-and-resend, import, approve; a forget or an edit followed by `backup restore`
of a backup that holds the note; a forget while a turn that quotes the note waits
between its prompt and its record), SIGKILLs it at a random moment (some trials
let it finish), then plays "the next start" in this process -- ``Assistant(data_dir)``
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
- unapplied: an operation that exited with success but whose effect is missing (a turn
  recorded after a forget that exited 0 while it ran, holding the forgotten note, counts);
- duplicate_notes: an approved suggestion made two notes, or a note while it stays pending;
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

    python -m bench.crash [--trials N] [--seed S] [--json] [--data-dir DIR] [--keep] [--ops forget,edit] [--exec]

Children are forked from a server process that has imported torch, sentence-transformers and
llama.cpp (child.Forked): each is a new process, killed with SIGKILL, that runs the same
``main`` as ``python -m assistant.cli`` (or the worker), without ~6 s of imports per start.
``--exec`` starts each as a new interpreter instead, exactly as a user's command starts.

Exit status 0 when every failure count is zero. The JSON's "failures" lists each
problem once (trial, operation, kill delay and phase, what was found); "log" has
every trial's choices. The same seed replays the same schedule; the setup choices
(which conversation, which note) follow it as long as the kills land alike.

The worker (``python -m bench.crash worker turn TEXT``, ``worker regenerate CONV``,
``worker edit_resend MSG TEXT``) uses only public APIs of assistant/*. It prints
``ready`` when set up, ``stored <id>`` at the first event of the turn (the user
message is stored before it), ``finished <id> <json reply>`` and ``closed``.

The package, by responsibility: schedule.py (which operation, kill or not, when), child.py (a
child process and its time-stamped output), worker.py (the child side of a worker), state.py
(what the run remembers: secrets, expected messages, problems), harness.py (the trial driver and
``run``), operations.py (the operations a trial runs), checks.py (the "next start" checks and
the evidence of leaked files), report.py (the figures and their printout), cli.py (``main``).
"""

from __future__ import annotations

from bench.crash.cli import main
from bench.crash.harness import run
from bench.crash.schedule import OPS, plan
from bench.crash.state import FAILURE_KINDS

__all__ = ["FAILURE_KINDS", "OPS", "main", "plan", "run"]
