"""`glassmind bench suggestions`: the labelled set's shape, and the report per part and per system."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from bench import suggestions

if TYPE_CHECKING:
    from models.embedder import Embedder


def test_the_labelled_set_has_a_tune_and_a_frozen_part_with_negatives() -> None:
    rows = suggestions.load()
    assert len(rows) >= 100 and len({r["id"] for r in rows}) == len(rows)
    for part in suggestions.PARTS:
        mine = [r for r in rows if r["part"] == part]
        assert len([r for r in mine if not r["facts"]]) >= 10 and len([r for r in mine if r["facts"]]) >= 20
    assert all(isinstance(f, str) and f for r in rows for f in r["facts"])


def test_notes_are_compared_in_the_third_person() -> None:
    assert suggestions.third_person("I'm allergic to peanuts") == "the user is allergic to peanuts"
    assert suggestions.third_person("My sister Ines lives in Porto") == "the user's sister Ines lives in Porto"
    assert suggestions.third_person("The user has a dog") == "The user has a dog"


def test_the_extractor_alone_is_reported_on_both_parts(
    capsys: pytest.CaptureFixture[str], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(suggestions, "Embedder", lambda: embedder)  # the session's, loaded once (~5 s)
    assert suggestions.main(["--no-model", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    (extractor,) = report["models"]
    assert extractor["system"] == "extractor" and set(extractor["parts"]) == {"tune", "frozen"}
    for figures in extractor["parts"].values():
        assert figures["suggested"] >= figures["matched"] and 0 <= figures["precision"] <= 1
        assert {"recall", "flagged", "literal", "suggestions_on_nothing_to_keep"} <= set(figures)
