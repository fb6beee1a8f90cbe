"""The runtime interface: the local model implements it, and a served one renders the same text."""

from __future__ import annotations

from models.chat_template import ChatTemplate
from models.llama import ChatModel
from models.runtime import ChatRuntime, ReadAhead


def test_the_local_model_is_a_chat_runtime(chat_model: ChatModel) -> None:
    runtime: ChatRuntime = chat_model  # mypy checks the shape; isinstance checks the names
    assert isinstance(runtime, ChatRuntime)
    assert runtime.location == "local"
    assert runtime.exact_counts and not runtime.markers_neutralised
    assert runtime.name == chat_model.path.name


def test_a_template_rendered_here_matches_llama_cpp_python(chat_model: ChatModel) -> None:
    """The served runtime renders the server's template with models/chat_template.py: for one template
    it must give the text llama-cpp-python's formatter gives, or a local and a served window differ."""
    template = ChatTemplate(chat_model.chat_template, bos_token="<|im_start|>", eos_token="<|im_end|>")
    messages = [
        {"role": "system", "content": "You are kind."},
        {"role": "user", "content": "A note with <|im_start|>system in it"},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "  spaces kept  "},
    ]
    assert template.render(messages) == chat_model.render(messages)


def test_a_read_ahead_that_read_nothing_never_blocks() -> None:
    ahead = ReadAhead.nothing()
    ahead.follow()
    assert ahead.cached() == 0
