"""The operations a trial runs, each in a child process it may kill: a turn (in a worker or the CLI),
forget, edit, regenerate, edit-and-resend, import. Each returns the finished child."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from assistant.store import Message
from bench.crash.child import READY_TIMEOUT_S, Child
from bench.crash.state import TOPICS, Secret, import_key

if TYPE_CHECKING:
    from bench.crash.harness import Harness


def _pick_conversation(h: Harness, app: Any, *, with_messages: bool = False) -> int | None:
    convs = app.store.conversations()
    if with_messages:
        convs = [c for c in convs if app.store.message_count(c.id)]
    return h.rng.choice(convs).id if convs else None


def _turn_target(h: Harness, info: dict[str, Any]) -> tuple[str, list[str]]:
    """A new message and, most of the time, an existing conversation to send it to."""
    app = h.app()
    try:
        conv = None if h.rng.random() < 0.3 else _pick_conversation(h, app)
    finally:
        app.close()
    text = h.msg_text()
    info.update(conversation=conv, text=text)
    return text, (["--conversation", str(conv)] if conv is not None else [])


# turn (worker)
def op_turn(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    text, conv_args = _turn_target(h, info)
    child = h.run_child(h.worker("turn", text, *conv_args), info, "turn", kill, u)
    h.ack_worker(child, "turn", text)
    return child


# CLI turn
def op_cli_turn(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    text, conv_args = _turn_target(h, info)
    child = h.run_child(h.cli("chat", "--once", text, *conv_args), info, "cli_turn", kill, u)
    if child.proc.returncode in (0, 1):  # exited by itself: the message was stored
        h.state.pending_texts.append((text, f"cli_turn exited {child.proc.returncode} (trial {h.trial})"))
    return child


# regenerate (worker)
def op_regenerate(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    app = h.app()
    try:
        conv = _pick_conversation(h, app, with_messages=True)
        msgs = app.store.messages(conv) if conv is not None else []
    finally:
        app.close()
    # What regenerate replaces: the replies after the last user message. They stay stored, set
    # aside as other answers to it; only an empty one is erased (a failed regenerate may also erase
    # its own empty reply and bring the earlier answer back).
    while msgs and msgs[-1].role != "user":
        gone = msgs.pop()
        if not gone.content.strip():
            h.state.removed.add(gone.id)
            h.state.removed_texts.add(gone.content)
    info.update(conversation=conv)
    child = h.run_child(h.worker("regenerate", str(conv)), info, "regenerate", kill, u)
    h.ack_worker(child, "regenerate")
    return child


def _with_answers_set_aside(app: Any, msgs: list[Any]) -> list[Any]:
    """Erasing a question erases the answers Regenerate set aside for it."""
    out = list(msgs)
    for m in msgs:
        if m.role == "user":
            out += app.store.alternatives(m.id)
    return out


# edit and resend (worker)
def op_edit_resend(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    app = h.app()
    try:
        users = []
        for _ in range(5):
            conv = _pick_conversation(h, app, with_messages=True)
            users = [m for m in app.store.messages(conv) if m.role == "user"] if conv else []
            if users:
                break
        if users:
            target = users[-1] if h.rng.random() < 0.7 else h.rng.choice(users)
            later_msgs = _with_answers_set_aside(
                app, [m for m in app.store.messages(target.conversation_id) if m.id >= target.id]
            )
            later = [m.id for m in later_msgs]
    finally:
        app.close()
    if not users:
        info["skipped"] = "no user message: a turn instead"
        return op_turn(h, info, kill, u)
    h.state.removed.update(later)
    h.state.removed_texts.update(m.content for m in later_msgs)
    text = h.msg_text()
    info.update(message_id=target.id, removes=later, text=text)
    child = h.run_child(h.worker("edit_resend", str(target.id), text), info, "edit_resend", kill, u)
    h.ack_worker(child, "edit_resend", text)
    return child


# secrets: forget and edit
def _new_secret(h: Harness, app: Any) -> Secret:
    sid = len(h.state.secrets) + 1
    token = h.token(10)
    topic = f"{h.rng.choice(TOPICS)}"
    m1 = f"secret-{h.trial}-{token}"
    if h.rng.random() < 0.5:
        markers = [m1]
        text = f"The code word for the {topic} locker is {m1}."
    else:
        markers = [m1, f"{m1}-b"]
        text = f"line one {m1} for the {topic} locker\nline two {m1}-b"
    secret = Secret(sid, markers, text, token, h.trial)
    secret.note_id = app.memories.add(text).id
    h.state.secrets.append(secret)
    return secret


def _pick_secret(h: Harness, app: Any) -> Secret:
    live = [s for s in h.state.secrets if s.status == "live" and s.note_id is not None]
    live = [s for s in live if app.memories.get_many([s.note_id])]
    if live and h.rng.random() < 0.5:
        return h.rng.choice(live)
    return _new_secret(h, app)


def _prepare_secret(h: Harness, info: dict[str, Any], *, backup: bool | None = None) -> Secret:
    app = h.app()
    try:
        app.open_memory()
        secret = _pick_secret(h, app)
    finally:
        app.close()
    info.update(secret=secret.sid, note_id=secret.note_id, markers=secret.markers)
    if h.rng.random() < 0.4:
        # A turn that retrieves the note: the secret lands in the recorded prompt.
        topic = next((t for t in TOPICS if t in secret.text), "locker")
        text = f"m{h.trial}x{h.token(6)} What is the code word for the {topic} locker?"
        app = h.app()
        try:
            conv = None if h.rng.random() < 0.5 else _pick_conversation(h, app)
        finally:
            app.close()
        child = h.worker("turn", text, *(["--conversation", str(conv)] if conv is not None else []))
        ready = child.wait_line("ready", READY_TIMEOUT_S)
        rc = child.finish()
        if rc == 0 and ready is not None and child.lines:
            h.state.durations.setdefault("turn", []).append(max(0.05, child.done_at() - ready))
        h.ack_worker(child, "setup turn", text)
        info["setup_turn_rc"] = rc
        info["setup_turn_s"] = round(child.elapsed, 2)
        h.extras["setup_turns"] += 1
    app = h.app()
    try:
        app.open_memory()
        if backup if backup is not None else h.rng.random() < 0.4:
            info["backup_name"] = app.store.backups.make(app.store.db.conn, "test").name
            secret.in_backup = True
            info["backup"] = True
            h.extras["backups_made"] += 1
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
        wanted = [m.message_id for m in mems.values() if m.message_id is not None]
        messages = [Message(**r) for r in app.store.query(
            f"SELECT * FROM messages WHERE id IN ({','.join('?' * len(wanted))})", wanted
        )] if wanted else []
        erased = _with_answers_set_aside(app, messages)
    finally:
        app.close()
    h.copies = (sorted(ids), [(m.id, m.content) for m in erased])
    return secret


def op_forget(h: Harness, info: dict[str, Any], kill: bool, u: float, *, prepared: Secret | None = None) -> Child:
    secret = prepared or _prepare_secret(h, info)
    ids, message_ids = h.copies
    h.state.removed.update(i for i, _ in message_ids)
    h.state.removed_texts.update(t for _, t in message_ids)
    secret.status, secret.via, secret.changed_in = "forgetting", "forget", h.trial
    h.extras["forgets_with_prompt_copy"] += int(secret.in_prompt)
    h.extras["forgets_with_backup"] += int(secret.in_backup)
    child = h.run_child(h.cli("memory", "forget", *map(str, ids)), info, "forget", kill, u)
    info["forget_rc"] = child.proc.returncode
    return child


def op_edit(h: Harness, info: dict[str, Any], kill: bool, u: float, *, prepared: Secret | None = None) -> Child:
    secret = prepared or _prepare_secret(h, info)
    token = h.token(10)
    topic = next((t for t in TOPICS if t in secret.text), "blue")
    marker = f"secret-{h.trial}-{token}"
    new_text = f"The code word for the {topic} locker is now {marker}."
    new = Secret(len(h.state.secrets) + 1, [marker], new_text, token, h.trial, note_id=secret.note_id)
    new.status = "pending"
    h.state.secrets.append(new)
    secret.status, secret.via, secret.changed_in = "editing", "edit", h.trial
    secret.edited_to = new
    info["new_secret"] = new.sid
    child = h.run_child(h.cli("memory", "edit", str(secret.note_id), new_text), info, "edit", kill, u)
    info["edit_rc"] = child.proc.returncode
    return child


# import
def op_import(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    # Mostly the first export again (it must add nothing once imported); sometimes a new one,
    # so that kills also land in imports that write.
    if h.rng.random() < 0.3:
        path, data = h.write_export()
    else:
        path, data = h.exports[0] if h.rng.random() < 0.7 else h.rng.choice(h.exports)
    keys = {import_key(c) for c in data["conversations"]}
    again = keys <= h.state.import_keys_seen
    info.update(file=path.name, again=again)
    h.import_keys = keys
    child = h.run_child(h.cli("import", str(path)), info, "import", kill, u, "import_again" if again else "import")
    if child.proc.returncode == 0:
        for conv in data["conversations"]:
            for m in conv["messages"]:
                h.state.pending_texts.append((m["content"], f"import exited 0 (trial {h.trial})"))
        info["summary"] = next((line for _, line in child.lines if line.startswith("Imported")), None)
    return child


# approve
def op_approve(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    """Approve a suggested note; now and then one a killed approve left pending (it must make one note)."""
    from assistant.suggestions import Candidate

    app = h.app()
    try:
        pending = [s for s in app.suggestions.rows("pending") if s.id in h.state.suggestions]
        if pending and h.rng.random() < 0.5:
            sid = h.rng.choice(pending).id
            info["again"] = True
        else:
            users = app.store.query("SELECT id FROM messages WHERE role = 'user' ORDER BY id")
            if not users:
                info["skipped"] = "no user message: a turn instead"
                return op_turn(h, info, kill, u)
            source = int(h.rng.choice(users)["id"])
            text = f"note{h.trial}x{h.token(7)} The {h.rng.choice(TOPICS)} key hangs by the door"
            made = app.suggestions.record(source, [(Candidate(text, "fact", None, source), None)])
            sid = made[0].id
            h.state.suggestions[sid] = text
    finally:
        app.close()
    info["suggestion"] = sid
    child = h.run_child(h.cli("memory", "approve", str(sid)), info, "approve", kill, u)
    return child


# restore after a killed forget or edit
def op_restore(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    """A forget or an edit of a note that is in a backup, killed (or not), then `backup restore` of that
    backup: nothing forgotten or edited away may come back, in the database or in any backup."""
    secret = _prepare_secret(h, info, backup=True)
    if h.rng.random() < 0.5:
        info["restore_after"] = "forget"
        child = op_forget(h, info, kill, u, prepared=secret)
    else:
        info["restore_after"] = "edit"
        child = op_edit(h, info, kill, u, prepared=secret)
    restore = h.cli("backup", "restore", str(info["backup_name"]))
    rc = restore.finish()
    info["restore_rc"] = rc
    if rc != 0:
        h.op_errors.append({"trial": h.trial, "op": "restore", "rc": rc, "stderr": restore.err[-6:]})
    return child


# a forget racing a turn
def op_forget_race(h: Harness, info: dict[str, Any], kill: bool, u: float) -> Child:
    """A turn whose window quotes a note; once its prompt is built the note is forgotten (`memory forget`,
    killed or not), then the turn goes on and records itself: the record must not hold the note."""
    secret = _prepare_secret(h, info)
    topic = next((t for t in TOPICS if t in secret.text), "locker")
    text = f"m{h.trial}x{h.token(6)} What is the code word for the {topic} locker?"
    hold = h.work_dir / f"hold-{h.trial}"
    turn = h.worker("turn", text, "--hold", str(hold))
    window = turn.wait_line("window", READY_TIMEOUT_S)
    info["window"] = window is not None
    try:
        child = op_forget(h, info, kill, u, prepared=secret)
    finally:
        hold.touch()
    rc = turn.finish()
    info["turn_rc"] = rc
    h.ack_worker(turn, "race turn", text)
    stored = next((int(rest.split()[0]) for word, rest in turn.parsed() if word == "stored"), 0)
    if child.proc.returncode == 0 and stored and window is not None:
        app = h.app()
        try:
            rows = app.store.query("SELECT prompt, items, prompt_parts FROM turns WHERE user_message_id = ?", [stored])
        finally:
            app.close()
        for row in rows:
            held = " ".join(row[c] or "" for c in ("prompt", "items", "prompt_parts"))
            found = [n for n in secret.search_needles() if n in held]
            if found:
                h.fail(
                    "unapplied", (h.trial, "forget_race"), secret=secret.sid, found=sorted(set(found)),
                    detail="forget exited 0 while the turn ran, and the turn's record holds the note",
                )
        info["race_records"] = len(rows)
        redacted = sum('"state": "forgotten"' in (row["items"] or "") for row in rows)
        h.extras["race_turns_redacted"] += redacted  # the forget landed while the window quoted the note
    return child


Operation = Callable[["Harness", dict[str, Any], bool, float], Child]
OPERATIONS: dict[str, Operation] = {
    "turn": op_turn,
    "cli_turn": op_cli_turn,
    "forget": op_forget,
    "edit": op_edit,
    "regenerate": op_regenerate,
    "edit_resend": op_edit_resend,
    "import": op_import,
    "approve": op_approve,
    "restore": op_restore,
    "forget_race": op_forget_race,
}
