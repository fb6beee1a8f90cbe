"""A native crash in llama.cpp (the AMX bug) never takes Glassmind down: a child process reads a test prompt
first, and a child killed by SIGSEGV makes the model load with safer options (models/load_check.py).

The crash is made on purpose (CRASH_HOOK): a CPU without AMX never takes llama.cpp's crashing path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from models import llama, load_check
from models.errors import ModelLoadError
from models.llama import ChatModel
from models.load_check import CHILD_FLAG, CRASH_HOOK, LoadOptions

pytestmark = [pytest.mark.slow, pytest.mark.load_check]


@pytest.fixture(autouse=True)
def fresh_checks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts as a new process would: nothing checked yet."""
    monkeypatch.setattr(load_check, "_checked", {})


def _reply(model: ChatModel) -> str:
    prompt = model.render([{"role": "user", "content": "Say hi."}])
    return "".join(model.generate(prompt, max_tokens=4, temperature=0.0))


def test_a_crash_on_the_first_read_falls_back_and_is_remembered(
    bundled_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = tmp_path / "checks.json"
    monkeypatch.setenv(CRASH_HOOK, "extra_bufts")
    model = ChatModel(bundled_model_path, n_ctx=512, extra_bufts=True, load_record=record)
    try:
        assert model.load_options == LoadOptions(extra_bufts=False, flash_attn=False)
        assert model._llm.model_params.use_extra_bufts is False  # what llama.cpp was really given
        assert model.notice is not None and "crashed" in model.notice and "without repacked weights" in model.notice
        assert model.notice.endswith(".") and ". " not in model.notice  # one sentence
        assert "flash attention" not in model.notice  # it was off already: only what changed is said
        assert _reply(model)
    finally:
        model.close()
    saved = json.loads(record.read_text())["checked"]
    assert list(saved.values()) == [{"extra_bufts": False, "flash_attn": False, "n_threads": None}]

    # The next start (a new process: nothing in memory) trusts the record and starts no child: with every
    # option crashing now, a child would make the load fail.
    monkeypatch.setattr(load_check, "_checked", {})
    monkeypatch.setenv(CRASH_HOOK, "always")
    again = ChatModel(bundled_model_path, n_ctx=512, extra_bufts=True, load_record=record)
    try:
        assert again.load_options.extra_bufts is False and again.notice is None
    finally:
        again.close()


def test_a_working_combination_keeps_its_options(bundled_model_path: Path, tmp_path: Path) -> None:
    model = ChatModel(bundled_model_path, n_ctx=512, extra_bufts=True, load_record=tmp_path / "checks.json")
    try:
        if model.notice is None:  # the child read the prompt: the options asked for are kept
            assert model.load_options.extra_bufts is True and model._llm.model_params.use_extra_bufts is True
        else:  # an AMX CPU, where repacked weights really crash: the real crash took the same way out
            assert load_check.cpu_has_amx() and "crashed" in model.notice
            assert model._llm.model_params.use_extra_bufts is False
    finally:
        model.close()


def test_every_option_crashing_is_one_sentence(
    bundled_model_path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CRASH_HOOK, "always")
    with pytest.raises(ModelLoadError, match="crashes on this computer .* even with its safest settings"):
        ChatModel(bundled_model_path, n_ctx=512, load_record=tmp_path / "checks.json")
    assert not (tmp_path / "checks.json").exists()  # a failure is not remembered: a fixed build gets a new try


def test_an_amx_cpu_loads_without_extra_buffers_from_the_start(
    bundled_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(llama, "cpu_has_amx", lambda: True)
    model = ChatModel(bundled_model_path, n_ctx=512)
    try:
        assert model._llm.model_params.use_extra_bufts is False and model.notice is None
        assert _reply(model)
    finally:
        model.close()


def test_a_damaged_record_is_checked_again_and_rewritten(bundled_model_path: Path, tmp_path: Path) -> None:
    record = tmp_path / "checks.json"
    record.write_bytes(b"\x00{not json")
    model = ChatModel(bundled_model_path, n_ctx=512, load_record=record)
    model.close()
    assert json.loads(record.read_text())["version"] == load_check.RECORD_VERSION


def test_the_assistant_answers_through_the_fallback(
    glassmind_home: Path, embedder: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from assistant.app import Assistant, Finished

    # As on a CPU without AMX, whatever this one has: the first try uses extra buffers, and its child crashes
    # (killed by the hook right after loading, before llama.cpp computes anything).
    monkeypatch.setattr(llama, "cpu_has_amx", lambda: False)
    monkeypatch.setenv(CRASH_HOOK, "extra_bufts")
    app = Assistant(glassmind_home, embedder=embedder)  # type: ignore[arg-type]
    try:
        app.settings.max_tokens = 8
        info = app.model_info()
        assert "crashed" in info.notice
        events = list(app.turn(None, "Hello there!"))
        assert isinstance(events[-1], Finished) and events[-1].reply.content
    finally:
        app.close()
    assert (glassmind_home / "llama-load-checks.json").exists()


def test_the_bundle_starts_the_child_through_its_own_executable(
    bundled_model_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    # Options that are safe on this CPU (repacked weights really crash on one with AMX).
    safe = not load_check.cpu_has_amx()
    payload = json.dumps({"extra_bufts": safe, "flash_attn": False, "n_threads": 1, "n_gpu_layers": 0})
    command = load_check.child_command(bundled_model_path, payload)
    assert command == [sys.executable, CHILD_FLAG, str(bundled_model_path), payload]
    # The bundle's executable is ui/launcher.py's main: run it as the bundle would be.
    env = {**os.environ, CRASH_HOOK: ""}
    done = subprocess.run(
        [sys.executable, "-m", "ui.launcher", *command[1:]], env=env, capture_output=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-800:]
    env[CRASH_HOOK] = "always"
    crashed = subprocess.run(
        [sys.executable, "-m", "ui.launcher", *command[1:]], env=env, capture_output=True, timeout=300, check=False
    )
    assert crashed.returncode == -11  # SIGSEGV, as the AMX crash


def test_make_s_install_check_reads_a_prompt(glassmind_home: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "models.load_check"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "read a prompt and wrote a reply" in done.stdout
