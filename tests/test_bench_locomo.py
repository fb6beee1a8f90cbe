"""`glassmind bench locomo --cache`: a conversation is embedded once and its store reused by later runs."""

from __future__ import annotations

import json
from pathlib import Path

from bench import locomo


def _sample() -> dict[str, object]:
    turns = [
        ("Ana", "I adopted a grey cat called Pixel last week."),
        ("Ben", "Nice! What does Pixel like to eat?"),
        ("Ana", "Mostly tuna, and she steals olives from the table."),
        ("Ben", "I started learning the cello in March."),
        ("Ana", "The cello is lovely. Who is your teacher?"),
        ("Ben", "An old friend from Porto teaches me on Sundays."),
    ]
    return {
        "speaker_a": "Ana",
        "speaker_b": "Ben",
        "session_1_date_time": "1:56 pm on 8 May, 2023",
        "session_1": [{"speaker": s, "dia_id": f"D1:{i}", "text": t} for i, (s, t) in enumerate(turns, 1)],
        "qa": [
            {"question": "What is the name of Ana's cat?", "answer": "Pixel", "evidence": ["D1:1"], "category": 4},
            {"question": "What instrument does Ben play?", "answer": "cello", "evidence": ["D1:4"], "category": 4},
        ],
    }


def test_a_cached_store_is_reused_and_gives_the_same_recall(tmp_path: Path) -> None:
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    (data / "7.json").write_text(json.dumps(_sample()))
    first = locomo.run(data, progress=False, cache=cache)
    (stored,) = cache.iterdir()
    assert stored.name.startswith("7-") and (stored / "dia_of.json").exists()
    assert first["ingest_messages_per_s"] is not None and first["recall"]["1024"] == 1.0
    again = locomo.run(data, progress=False, cache=cache)
    assert again["ingest_messages_per_s"] is None  # nothing was embedded this time
    assert again["recall"] == first["recall"] and again["evidence_token_share"] == first["evidence_token_share"]
    # An edited conversation is a new store, not a stale one.
    (data / "7.json").write_text(json.dumps({**_sample(), "speaker_a": "Anna"}))
    assert locomo.run(data, progress=False, cache=cache)["ingest_messages_per_s"] is not None
    assert len(list(cache.iterdir())) == 2
