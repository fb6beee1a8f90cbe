"""Export and import: checked whole, written in one transaction, idempotent, text cleaned."""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from assistant.app import Assistant, Finished
from assistant.text import clean_input, decode_input
from assistant.transfer import export_data, import_data, read_export, write_export
from models.errors import GlassmindError, InvalidInputError

if TYPE_CHECKING:
    from assistant.store import Store
    from models.embedder import Embedder


def sample() -> dict[str, Any]:
    return {
        "format": "glassmind-export",
        "version": 1,
        "conversations": [
            {
                "title": "Tea",
                "created": "2024-05-01T10:00:00+00:00",
                "messages": [
                    {"role": "user", "content": "I like green tea.", "created": "2024-05-01T10:00:00+00:00"},
                    {"role": "assistant", "content": "Noted: green tea.", "created": "2024-05-01T10:00:05+00:00",
                     "status": "length"},  # cut at the length limit (Continue)
                ],
            },
            {
                "title": "Bikes",
                "created": "2024-05-02T10:00:00+00:00",
                "messages": [
                    {"role": "user", "content": "My bike is red.", "created": "2024-05-02T10:00:00+00:00", "excluded": True},
                    {"role": "assistant", "content": "", "created": "2024-05-02T10:00:05+00:00", "status": "partial"},
                ],
            },
        ],
        "notes": [
            {"text": "Allergic to peanuts", "created": "2024-05-03T09:00:00+00:00", "pinned": True, "excluded": False, "source": "user",
             "type": "event", "event_date": "2024-05-03"},  # an approved suggestion keeps its type
        ],
    }


def counts(app: Assistant) -> tuple[int, int, int]:
    q = app.store.query
    return (
        q("SELECT count(*) AS n FROM conversations")[0]["n"],
        q("SELECT count(*) AS n FROM messages")[0]["n"],
        q("SELECT count(*) AS n FROM memories")[0]["n"],
    )


def test_import_adds_everything_with_memories_and_vectors(assistant: Assistant) -> None:
    result = import_data(assistant, sample())
    assert (result.conversations, result.messages, result.notes) == (2, 4, 1)
    # Three non-empty messages and one note become memory, each embedded.
    assert counts(assistant) == (2, 4, 4)
    rows = assistant.store.query("SELECT kind, speaker, excluded, pinned, source FROM memories ORDER BY id")
    assert [(r["kind"], r["speaker"]) for r in rows] == [
        ("message", "user"), ("message", "assistant"), ("message", "user"), ("note", None)
    ]
    assert rows[2]["excluded"] == 1 and rows[3]["pinned"] == 1 and rows[3]["source"] == "user"
    vectors = assistant.store.query("SELECT count(*) AS n FROM memory_vectors")[0]["n"]
    assert vectors == 4
    assert all(r["import_key"] for r in assistant.store.query("SELECT import_key FROM conversations"))
    bikes = [c for c in assistant.store.conversations() if c.title == "Bikes"][0]
    assert [m.status for m in assistant.store.messages(bikes.id)] == ["ok", "partial"]


def test_importing_twice_adds_nothing(assistant: Assistant) -> None:
    import_data(assistant, sample())
    before = counts(assistant)
    again = import_data(assistant, sample())
    assert (again.conversations, again.messages, again.notes) == (0, 0, 0)
    assert (again.skipped_conversations, again.skipped_notes) == (2, 1)
    assert counts(assistant) == before
    assert "Skipped 2 conversations and 1 notes already present" in again.summary()


def test_duplicates_inside_one_file_are_added_once(assistant: Assistant) -> None:
    data = sample()
    data["conversations"].append(copy.deepcopy(data["conversations"][0]))
    data["notes"].append(copy.deepcopy(data["notes"][0]))
    result = import_data(assistant, data)
    assert (result.conversations, result.notes, result.skipped_conversations, result.skipped_notes) == (2, 1, 1, 1)


def test_exporting_then_importing_into_the_same_data_adds_nothing(assistant: Assistant, tmp_path: Path) -> None:
    events = list(assistant.turn(None, "Remember that I like tea."))
    assert isinstance(events[-1], Finished)
    assistant.open_memory()
    assistant.memories.add("Tea with milk", pinned=True)
    out = tmp_path / "export.json"
    write_export(out, export_data(assistant))
    before = counts(assistant)
    result = import_data(assistant, read_export(out))
    assert (result.conversations, result.notes) == (0, 0)
    assert (result.skipped_conversations, result.skipped_notes) == (1, 1)
    assert counts(assistant) == before


def test_import_into_another_data_dir_then_again(assistant: Assistant, embedder: Embedder, tmp_path: Path) -> None:
    import_data(assistant, sample())
    data = json.loads(json.dumps(export_data(assistant)))
    other = Assistant(tmp_path / "other", embedder=embedder)
    try:
        first = import_data(other, data)
        assert (first.conversations, first.messages, first.notes) == (2, 4, 1)
        assert counts(other) == counts(assistant)
        (note,) = other.memories.browse(kind="note")
        assert (note.note_type, note.event_date) == ("event", "2024-05-03")
        second = import_data(other, data)
        assert (second.conversations, second.notes) == (0, 0)
        assert counts(other) == counts(assistant)
    finally:
        other.close()


@pytest.mark.parametrize(
    "change, expected",
    [
        (lambda d: d["conversations"][1]["messages"][1].update(role="system"),
         "conversation 2, message 2: role 'system' is not allowed (only user and assistant): nothing was imported."),
        (lambda d: d["conversations"][1]["messages"][0].update(content=None),
         "conversation 2, message 1: 'content' must be text, not null"),
        (lambda d: d["conversations"][1]["messages"][0].update(content=42), "must be text, not a number"),
        (lambda d: d["conversations"][1]["messages"][0].pop("created"), "conversation 2, message 1: 'created' is missing"),
        (lambda d: d["conversations"][1].update(messages="hi"), "conversation 2: 'messages' must be a list"),
        (lambda d: d["conversations"][1].update(title=["x"]), "conversation 2: 'title' must be text"),
        (lambda d: d["conversations"][1]["messages"][0].update(excluded="yes"), "'excluded' must be true or false"),
        (lambda d: d["notes"][0].update(text="   "), "note 1: the text is empty"),
        (lambda d: d["notes"][0].update(text="x" * 20_001), "note 1: the text is 20,001 characters"),
        (lambda d: d["notes"][0].update(pinned=1), "note 1: 'pinned' must be true or false, not a number"),
        (lambda d: d["notes"][0].update(type="rumour"), "note 1: type 'rumour' is not one of fact, preference, event"),
        (lambda d: d["notes"].append("a note"), "note 2: must be an object"),
        (lambda d: d.update(version=True), "version True"),
        (lambda d: d.update(format="other"), "not a Glassmind export"),
    ],
)
def test_a_bad_item_anywhere_imports_nothing(assistant: Assistant, change: Callable[[dict[str, Any]], object], expected: str) -> None:
    data = sample()
    change(data)
    with pytest.raises(InvalidInputError) as err:
        import_data(assistant, data)
    assert expected in str(err.value)
    assert "nothing was imported" in str(err.value) or "not a Glassmind export" in str(err.value)
    assert counts(assistant) == (0, 0, 0)


def test_a_failure_while_writing_rolls_everything_back(assistant: Assistant, monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(db: Store, items: Any) -> None:
        raise InvalidInputError("boom")

    monkeypatch.setattr(assistant.memories, "insert_rows", boom)
    with pytest.raises(InvalidInputError):
        import_data(assistant, sample())
    assert counts(assistant) == (0, 0, 0)


def test_broken_text_is_stored_with_replacement_characters(assistant: Assistant) -> None:
    data = sample()
    data["conversations"][0]["messages"][0]["content"] = "caf\ud800 au lait"
    data["notes"][0]["text"] = "note \udcff here"
    import_data(assistant, data)
    texts = {r["text"] for r in assistant.store.query("SELECT text FROM memories")}
    assert "caf\ufffd au lait" in texts and "note \ufffd here" in texts


def test_read_export_problems_are_sentences(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(InvalidInputError, match="nested too deeply"):
        read_export(deep)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(InvalidInputError, match="not valid JSON"):
        read_export(bad)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"title": "caf\xe9"}')
    with pytest.raises(InvalidInputError, match="not UTF-8"):
        read_export(latin)
    with pytest.raises(InvalidInputError, match="Could not read"):
        read_export(tmp_path / "missing.json")
    with pytest.raises(InvalidInputError, match="is a folder"):
        read_export(tmp_path)
    import assistant.transfer as transfer

    monkeypatch.setattr(transfer, "MAX_IMPORT_BYTES", 100)
    big = tmp_path / "big.json"
    big.write_text(json.dumps(sample()))
    with pytest.raises(InvalidInputError, match="imports files up to"):
        read_export(big)


def test_write_export_never_leaves_a_half_written_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "export.json"
    out.write_text("previous export\n")

    def fail(src: Any, dst: Any) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(GlassmindError, match="Could not write"):
        write_export(out, sample())
    assert out.read_text() == "previous export\n"
    assert sorted(p.name for p in folder.iterdir()) == ["export.json"]


def test_clean_input() -> None:
    assert clean_input("plain é ✓") == "plain é ✓"
    assert clean_input(os.fsdecode(b"caf\xe9 ok")) == "caf\ufffd ok"
    assert clean_input("a\ud800b") == "a\ufffdb"
    assert clean_input(os.fsdecode("naïve".encode())) == "naïve"
    assert decode_input(b"\xef\xbb\xbfhi \xff") == "hi \ufffd"
    clean_input(os.fsdecode(b"\x80\xff\xfe")).encode("utf-8")  # never raises
