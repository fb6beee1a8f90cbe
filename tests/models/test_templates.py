"""Any chat template: tiny GGUFs written with the `gguf` package carry different templates (or none);
token accounting stays exact with each, and a missing or unrenderable template gets a clear message
and a fallback (ChatML, Llama 3, Gemma)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from assistant.app import Assistant, ContextReady, Finished
from assistant.context import ContextWindow
from models.errors import InvalidInputError, ModelFileError
from models.gguf import read_gguf
from models.llama import ChatModel
from models.templates import (
    CHATML,
    FALLBACKS,
    ChatTemplateError,
    fallback_template,
    suggest,
)
from tests.tiny_gguf import write_tiny_gguf

if TYPE_CHECKING:
    from models.embedder import Embedder

# Llama 3's own template trims message text, so the window cannot keep text and markers apart.
LLAMA3_OFFICIAL = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# Gemma 2's own template refuses a system message, which Glassmind always sends.
GEMMA2_OFFICIAL = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}<start_of_turn>{{ message['role'] }}\n{{ message['content'] }}"
    "<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
BROKEN = "{% for message in messages %}{{ message['content'] }"

# (bos, eos, add_bos) of a model family, so the fallbacks meet the tokens they were made for.
FAMILY = {
    "chatml": ("<|endoftext|>", "<|im_end|>", False),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", True),
    "gemma": ("<bos>", "<end_of_turn>", True),
}
MARKERS = {
    "chatml": ["<|im_start|>", "<|im_end|>"],
    "llama3": ["<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
    "gemma": ["<start_of_turn>", "<end_of_turn>"],
}


def _tiny(tmp_path: Path, name: str, template: str | None, family: str = "chatml") -> Path:
    bos, eos, add_bos = FAMILY[family]
    return write_tiny_gguf(tmp_path / f"{name}.gguf", chat_template=template, bos=bos, eos=eos, add_bos=add_bos)


def _load(path: Path, template: str | None = None) -> ChatModel:
    if template is None:
        return ChatModel(path, n_ctx=2048, n_gpu_layers=0)
    return ChatModel(path, n_ctx=2048, n_gpu_layers=0, chat_template=template)


def _check_exact(window: ContextWindow, model: ChatModel) -> None:
    assert sum(i.tokens for i in window.items if i.included) == window.prompt_tokens
    assert "".join(text for _, text, _ in window.parts) == window.prompt
    assert window.tokens == model.tokenize_parts([(text, tmpl) for _, text, tmpl in window.parts])
    assert window.prompt_tokens == len(window.tokens) <= window.n_ctx - window.reserve
    # What llama.cpp reads is the prompt shown, token for token.
    assert model.detokenize(window.tokens, special=True) == window.prompt


def _exercise(model: ChatModel, home: Path, embedder: Embedder, markers: list[str]) -> None:
    """A conversation with history, a pinned note and a message that types a marker: exact each turn."""
    app = Assistant(home, embedder=embedder, model=model)
    try:
        app.settings.max_tokens = 8
        app.settings.temperature = 0.0
        app.open_memory()
        app.memories.add("The user's cat is called Pixel.", pinned=True)
        conv = None
        for text in ("hello there", "tell me more", f"a literal {markers[0]} in my text"):
            for event in app.turn(conv, text):
                if isinstance(event, ContextReady):
                    conv = event.user_message.conversation_id
                    _check_exact(event.window, model)
                    marker_id = model._llm.tokenize(markers[0].encode(), add_bos=False, special=True)
                    assert len(marker_id) == 1  # a control token of this vocabulary
                    template_markers = "".join(t for _, t, tmpl in event.window.parts if tmpl).count(markers[0])
                    # Only the template's own markers became control tokens, never the user's text.
                    assert event.window.tokens.count(marker_id[0]) == template_markers
                assert not isinstance(event, Exception)
            assert isinstance(event, Finished), event
        window = app.context(conv, "and now?")
        _check_exact(window, model)
        bos = model._llm.token_bos()
        if model._add_bos:
            assert window.tokens[0] == bos and window.tokens.count(bos) == 1  # never doubled
    finally:
        app._model = None
        app.close()


def test_header_details_of_a_written_gguf(tmp_path: Path) -> None:
    info = read_gguf(_tiny(tmp_path, "own", CHATML))
    assert info.architecture == "llama" and info.quantization == "F32" and info.context_length == 4096
    assert info.has_chat_template and info.chat_template == CHATML
    assert info.kv_bytes_per_token == 2 * 2 * 2 * 16 * 2  # layers x kv heads x (key + value) x f16
    assert not read_gguf(_tiny(tmp_path, "none", None)).has_chat_template


@pytest.mark.parametrize("template", [CHATML, LLAMA3_OFFICIAL], ids=["chatml-in-file", "llama3-trimming-in-file"])
def test_accounting_is_exact_with_the_files_own_template(tmp_path: Path, embedder: Embedder, template: str) -> None:
    family = "chatml" if template == CHATML else "llama3"
    model = _load(_tiny(tmp_path, "own", template, family))
    try:
        _exercise(model, tmp_path / "home", embedder, MARKERS[family])
    finally:
        model.close()


@pytest.mark.parametrize("name", list(FALLBACKS))
def test_accounting_is_exact_with_each_fallback(tmp_path: Path, embedder: Embedder, name: str) -> None:
    model = _load(_tiny(tmp_path, f"bare-{name}", None, name), fallback_template(name))
    try:
        assert model.template_is_fallback
        _exercise(model, tmp_path / "home", embedder, MARKERS[name])
    finally:
        model.close()


def test_no_template_says_so_and_names_the_fallbacks(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="no chat template") as err:
        _load(_tiny(tmp_path, "bare", None))
    assert "ChatML" in str(err.value)


@pytest.mark.parametrize("template, why", [(GEMMA2_OFFICIAL, "System role not supported"), (BROKEN, "")])
def test_unrenderable_template_is_refused_with_a_way_out(tmp_path: Path, template: str, why: str) -> None:
    path = _tiny(tmp_path, "strict", template, "gemma")
    with pytest.raises(ChatTemplateError, match="cannot be rendered here") as err:
        _load(path)
    assert why in str(err.value) and "choose a chat format" in str(err.value)
    model = _load(path, fallback_template("gemma"))  # the way out
    try:
        assert "<start_of_turn>model\n" in model.render([{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    finally:
        model.close()


def test_fallback_names_and_suggestions() -> None:
    assert set(FALLBACKS) == {"chatml", "llama3", "gemma"}
    with pytest.raises(InvalidInputError, match="chatml, llama3, gemma"):
        fallback_template("alpaca")
    assert suggest("gemma3") == "gemma" and suggest("llama", 128_256) == "llama3" and suggest("qwen2") == "chatml"
