"""`glassmind bench speed --quick --json` produces every figure (values are for the benchmark to judge)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from assistant.app import Assistant
from bench import speed

if TYPE_CHECKING:
    from models.embedder import Embedder

KEYS = {
    "ttft_ratio", "decode_ratio", "reeval_ratio", "typing_ttft_ratio", "overhead_ms", "embed_ms", "retrieve_ms",
    "assemble_ms", "tokenize_ms", "per_token_overhead_ms", "overhead_ms_by_turn", "n_threads", "n_threads_batch",
    "flash_attn", "busy", "read_ahead", "overhead_ex_embed_ms", "embed_wait_ms",
}


@pytest.mark.slow
def test_quick_speed_bench_prints_every_figure(
    capsys: pytest.CaptureFixture[str], embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The session's embedder, loaded once (~5 s); the figures are the bench's to judge, not this test's.
    monkeypatch.setattr(speed, "Assistant", lambda data_dir: Assistant(data_dir, embedder=embedder))
    # One run, with read-ahead on (its figures are the ones a default run leaves out). That read-ahead is
    # off on the CPU unless asked is tests/assistant/test_read_ahead.py::test_off_on_the_cpu_unless_asked.
    assert speed.main(["--quick", "--json", "--read-ahead", "on"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result.keys() >= KEYS
    assert len(result["overhead_ms_by_turn"]) == 2 and result["busy"] is False
    assert result["read_ahead"] is True
