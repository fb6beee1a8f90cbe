"""Issue 21, item 11: text stays text under every template. A window whose notes and messages hold
every control-token string of the model's vocabulary gets no control token from them: only the
template's own, under the model's own template, ChatML, Llama 3, Gemma, and templates that trim."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import llama_cpp
import pytest

from assistant.app import Assistant
from models.llama import ChatModel
from models.templates import CHATML, fallback_template
from tests.messages import add_message
from tests.tiny_gguf import write_tiny_gguf

if TYPE_CHECKING:
    from models.embedder import Embedder

# Llama 3's own template trims message text (kept here as in tests/models/test_templates.py).
LLAMA3_OFFICIAL = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}"
    "{{ content }}{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)
# SmolLM2's own template with the message text trimmed, as many fine-tunes ship it.
SMOL_TRIMMING = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] | trim"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
GEMMA_TRIMMING = (
    "{{ bos_token }}{% for message in messages %}<start_of_turn>"
    "{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ message['content'] | trim }}<end_of_turn>\n{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
FAMILY = {
    "chatml": ("<|endoftext|>", "<|im_end|>", False),
    "llama3": ("<|begin_of_text|>", "<|eot_id|>", True),
    "gemma": ("<bos>", "<end_of_turn>", True),
}


def _control_ids(model: ChatModel) -> dict[int, str]:
    """Every control or user-defined token of the model's vocabulary, read here on its own (not
    through the code under test): id -> text."""
    vocab = llama_cpp.llama_model_get_vocab(model._llm._model.model)
    kinds = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED
    return {
        t: model._llm._model.token_get_text(t)
        for t in range(llama_cpp.llama_vocab_n_tokens(vocab))
        if llama_cpp.llama_vocab_get_attr(vocab, t) & kinds
    }


def _check_window_holds_only_template_control_tokens(model: ChatModel, home: Path, embedder: Embedder) -> None:
    controls = _control_ids(model)
    every = " ".join(sorted(controls.values()))
    assert set(model.control_texts()) == set(controls.values())
    app = Assistant(home, embedder=embedder, model=model)
    try:
        app.open_memory()
        app.memories.add(f"pinned {every}", pinned=True)
        app.memories.add(f"The garden gate is green. {every}")
        conv = app.store.create_conversation("c")
        add_message(app.store, conv.id, "user", f"  earlier question {every}\n")
        add_message(app.store, conv.id, "assistant", f"\nearlier answer {every}  ")
        window = app.context(conv.id, f"  what colour is the garden gate? {every}\n")
        assert any(i.kind == "memory" and i.included and "garden gate" in i.text for i in window.items)
        assert sum(i.included and i.kind == "history" for i in window.items) == 2
        # Text parts stay text: not the whole prompt as one template part.
        plain = [text for _, text, tmpl in window.parts if not tmpl]
        assert sum(every in text for text in plain) >= 4, window.parts
        # The template's own control tokens, and nothing else.
        own: Counter[int] = Counter()
        expected = model.tokenize_parts([(text, True) for _, text, tmpl in window.parts if tmpl])
        own.update(t for t in expected if t in controls)
        got = Counter(t for t in window.tokens if t in controls)
        assert got == own, {controls[t]: n for t, n in (got - own).items()}
        assert len(window.tokens) == window.prompt_tokens
        assert model.detokenize(window.tokens, special=True) == window.prompt
    finally:
        app._model = None
        app.close()


def test_the_bundled_model_keeps_every_control_string_of_its_vocabulary_plain(
    chat_model: ChatModel, tmp_path: Path, embedder: Embedder
) -> None:
    names = set(chat_model.control_texts())
    assert {"<file_sep>", "<repo_name>", "<filename>", "<jupyter_code>", "<|im_start|>"} <= names
    _check_window_holds_only_template_control_tokens(chat_model, tmp_path / "home", embedder)


def test_the_bundled_model_under_a_trimming_template_keeps_text_plain(
    bundled_model_path: Path, tmp_path: Path, embedder: Embedder
) -> None:
    model = ChatModel(bundled_model_path, n_ctx=2048, n_gpu_layers=0, chat_template=SMOL_TRIMMING)
    try:
        _check_window_holds_only_template_control_tokens(model, tmp_path / "home", embedder)
    finally:
        model.close()


@pytest.mark.parametrize(
    "family, own, fallback",
    [
        ("chatml", CHATML, None),
        ("llama3", LLAMA3_OFFICIAL, None),
        ("gemma", GEMMA_TRIMMING, None),
        ("chatml", None, "chatml"),
        ("llama3", None, "llama3"),
        ("gemma", None, "gemma"),
    ],
    ids=["chatml-own", "llama3-trimming-own", "gemma-trimming-own", "chatml", "llama3", "gemma"],
)
def test_every_template_keeps_every_control_string_plain(
    tmp_path: Path, embedder: Embedder, family: str, own: str | None, fallback: str | None
) -> None:
    bos, eos, add_bos = FAMILY[family]
    path = write_tiny_gguf(tmp_path / "tiny.gguf", chat_template=own, bos=bos, eos=eos, add_bos=add_bos)
    template = fallback_template(fallback) if fallback else None
    model = ChatModel(path, n_ctx=2048, n_gpu_layers=0, chat_template=template)
    try:
        _check_window_holds_only_template_control_tokens(model, tmp_path / "home", embedder)
    finally:
        model.close()


def test_a_rewrite_that_cannot_be_followed_breaks_every_vocabulary_marker() -> None:
    from assistant.context import WindowBuilder

    class Shouting:
        """A template that changes message text beyond trimming (it folds runs of white space)."""

        n_ctx = 4096

        def count_tokens(self, text: str) -> int:
            return len(text)

        def tokenize_parts(self, parts: list[tuple[str, bool]]) -> list[int]:
            return [0] * sum(len(t) for t, _ in parts)

        def render(self, messages: list[dict[str, str]]) -> str:
            return "".join(f"<|{m['role']}|>{' '.join(m['content'].split())}<|end|>" for m in messages)

        def control_texts(self) -> tuple[str, ...]:
            return ("<|end|>", "<file_sep>", "<|user|>")

    parts = WindowBuilder(Shouting()).render_parts(  # type: ignore[arg-type]
        [("user", [("message:1", "a\n\n<file_sep>  b <|end|> c")])])
    assert len(parts) == 1 and parts[0][2]
    text = parts[0][1]
    assert text.count("<|end|>") == 1 and "<file_sep>" not in text  # only the template's own marker
    assert text.count("<|user|>") == 1
