"""Long-term memory on real SQLite, FAISS and the real embedder."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant import paths, repository
from assistant.memory import MemoryStore
from assistant.opening import open_store
from assistant.retrieval import Retriever
from models.errors import InvalidInputError, NotFoundError

FACTS = [
    "My dog Oscar loves chasing tennis balls in the park.",
    "I work as a nurse at the children's hospital.",
    "We are planning a trip to Lisbon in October.",
    "My favourite food is spicy ramen with an egg.",
    "The car needs new brakes before winter.",
]


@pytest.fixture
def memory(glassmind_home: Path, embedder) -> MemoryStore:
    store = open_store(paths.database_path(glassmind_home))
    mem = MemoryStore(store, embedder, paths.index_dir(glassmind_home))
    mem.open_index()
    for fact in FACTS:
        mem.add(fact)
    yield mem
    store.close()


def retriever(mem: MemoryStore) -> Retriever:
    return Retriever(mem, lambda text: len(text.split()) + 2)


def test_search_finds_by_meaning_and_keyword(memory: MemoryStore) -> None:
    hits = retriever(memory).retrieve("what is the name of my pet?", budget=30).hits
    assert hits and "Oscar" in hits[0].memory.text
    assert hits[0].dense is not None and hits[0].reason
    kw = retriever(memory).retrieve("Lisbon", budget=30).hits
    assert "Lisbon" in kw[0].memory.text and kw[0].keyword is not None and "'lisbon'" in kw[0].reason


def test_budget_is_respected(memory: MemoryStore) -> None:
    result = retriever(memory).retrieve("tell me everything", budget=25)
    assert result.used_tokens <= 25
    assert sum(h.tokens for h in result.hits) == result.used_tokens


def test_pin_exclude_and_edit(memory: MemoryStore) -> None:
    oscar = memory.browse(search="Oscar")[0]
    memory.set_excluded([oscar.id], True)
    assert all(h.memory.id != oscar.id for h in retriever(memory).retrieve("dog Oscar", budget=100).hits)
    memory.set_excluded([oscar.id], False)
    memory.set_pinned([oscar.id], True)
    assert [m.id for m in memory.pinned()] == [oscar.id]
    edited = memory.edit(oscar.id, "My cat Whiskers sleeps on the piano all day.")
    top = retriever(memory).retrieve("which animal sleeps on the piano", budget=100, include_pinned=True).hits[0]
    assert top.memory.id == edited.id
    assert memory.browse(search="Oscar") == []


def test_bad_input(memory: MemoryStore) -> None:
    with pytest.raises(InvalidInputError, match="empty"):
        memory.add("   ")
    with pytest.raises(InvalidInputError, match="limit"):
        memory.add("x" * 50_000)
    with pytest.raises(NotFoundError, match="12345"):
        memory.forget([12345])
    with pytest.raises(NotFoundError):
        memory.set_pinned([999], True)


def test_forget_leaves_no_bytes_in_the_data_dir(memory: MemoryStore, glassmind_home: Path) -> None:
    secret = "zebracorn-passphrase-7731"
    text = f"The vault code is {secret} and nobody else knows it."
    m = memory.add(text)
    conversation_id = memory.store.create_conversation("Vault").id
    with memory.store.write() as tx:
        repository.record_turn(
            tx,
            conversation_id=conversation_id,
            user_message_id=1,
            reply_message_id=None,
            model="x",
            n_ctx=10,
            reserve=1,
            prompt_tokens=1,
            prompt=f"prompt with The vault code is {secret} and nobody else knows it.",
            items=[{"kind": "memory", "source": f"memory:{m.id}", "text": secret, "state": "included"}],
        )
    memory.flush()
    assert memory.forget([m.id]) == 1
    with pytest.raises(NotFoundError):
        memory.forget([m.id])  # forgetting twice says so
    for path in glassmind_home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert not retriever(memory).retrieve(secret, budget=100).hits or all(
        secret not in h.memory.text for h in retriever(memory).retrieve(secret, budget=100).hits
    )


def test_index_rebuilt_when_missing_or_corrupt(memory: MemoryStore, glassmind_home: Path, embedder) -> None:
    memory.flush()
    index_file = paths.index_dir(glassmind_home) / "memories.faiss"
    for damage in (lambda: index_file.unlink(), lambda: index_file.write_bytes(b"garbage")):
        damage()
        fresh = MemoryStore(memory.store, embedder, paths.index_dir(glassmind_home))
        seen = []
        assert fresh.open_index(lambda done, total, seen=seen: seen.append((done, total))) == "rebuilt"
        assert seen[-1] == (len(FACTS), len(FACTS))
        assert "Oscar" in retriever(fresh).retrieve("dog", budget=30).hits[0].memory.text
    fresh = MemoryStore(memory.store, embedder, paths.index_dir(glassmind_home))
    assert fresh.open_index() == "loaded"


def test_stale_index_after_a_crash_is_rebuilt(memory: MemoryStore, glassmind_home: Path, embedder) -> None:
    memory.flush()
    memory.add("Added after the last save, then the process was killed.")
    fresh = MemoryStore(memory.store, embedder, paths.index_dir(glassmind_home))
    assert fresh.open_index() == "loaded"  # the saved file, brought up to date from the change log
    assert fresh.index.size == len(FACTS) + 1


def test_data_dir_copied_elsewhere_still_works(memory: MemoryStore, glassmind_home: Path, tmp_path: Path, embedder) -> None:
    import shutil

    memory.flush()
    memory.store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    copy = tmp_path / "other-machine"
    shutil.copytree(glassmind_home, copy)
    store = open_store(paths.database_path(copy))
    moved = MemoryStore(store, embedder, paths.index_dir(copy))
    assert moved.open_index() == "loaded"
    assert "Lisbon" in retriever(moved).retrieve("holiday in Portugal", budget=30).hits[0].memory.text
    store.close()
