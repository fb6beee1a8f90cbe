"""Fallback chat templates (ChatML, Llama 3, Gemma) for GGUF files that lack a usable one.

A GGUF file normally carries its chat template (``tokenizer.chat_template``). Older conversions
have none, and some carry a template llama-cpp-python's Jinja cannot render. The user then picks
the format the model was trained with; these are the common ones. Each keeps message text
verbatim (no trimming), so the context window can keep template markers and text apart and its
token counts stay exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from models.errors import InvalidInputError, ModelFileError

# No newline right after a block tag: llama-cpp-python renders with trim_blocks=True.
CHATML = (
    "{% for message in messages %}"
    "<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LLAMA3 = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "<|start_header_id|>{{ message['role'] }}<|end_header_id|>\n\n{{ message['content'] }}<|eot_id|>"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)

# Gemma has no system role: the system text opens the first user turn (as Gemma 3's own template does).
GEMMA = (
    "{{ bos_token }}"
    "{% if messages and messages[0]['role'] == 'system' %}"
    "{% set first_prefix = messages[0]['content'] + '\n\n' %}{% set turns = messages[1:] %}"
    "{% else %}{% set first_prefix = '' %}{% set turns = messages %}{% endif %}"
    "{% for message in turns %}"
    "<start_of_turn>{{ 'model' if message['role'] == 'assistant' else message['role'] }}\n"
    "{{ (first_prefix if loop.first else '') + message['content'] }}<end_of_turn>\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)

FALLBACKS: dict[str, str] = {"chatml": CHATML, "llama3": LLAMA3, "gemma": GEMMA}
LABELS: dict[str, str] = {
    "chatml": "ChatML (Qwen, SmolLM, Hermes and most fine-tunes)",
    "llama3": "Llama 3",
    "gemma": "Gemma",
}

# A conversation with every role the app sends, rendered once to prove a template works.
SAMPLE: list[dict[str, str]] = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "Hello."},
    {"role": "assistant", "content": "Hi! How can I help?"},
    {"role": "user", "content": "What is 2 + 2?"},
]


class ChatTemplateError(ModelFileError):
    """A model has no chat template, or one that cannot be rendered: the user must pick a fallback."""


def fallback_template(name: str) -> str:
    """The Jinja text of a fallback template by name (``chatml``, ``llama3``, ``gemma``)."""
    try:
        return FALLBACKS[name]
    except KeyError:
        known = ", ".join(FALLBACKS)
        raise InvalidInputError(f"There is no chat format called '{name}': choose one of {known}.") from None


def suggest(architecture: str, token_count: int = 0) -> str:
    """The fallback most likely to fit a model, from its architecture (a guess the user can change)."""
    arch = architecture.lower()
    if arch.startswith("gemma"):
        return "gemma"
    if arch == "llama" and token_count >= 128_000:  # Llama 3's 128k-token vocabulary
        return "llama3"
    return "chatml"


def missing_template_error(file_name: str) -> ChatTemplateError:
    return ChatTemplateError(
        f"{file_name} has no chat template, so Glassmind cannot format a conversation for it on its own "
        "(it may be a base model): choose a chat format for it in Settings (ChatML, Llama 3 or Gemma; "
        "ChatML if unsure), or pick an instruct or chat model."
    )


def unrenderable_template_error(file_name: str, why: object) -> ChatTemplateError:
    reason = " ".join(str(why).split())[:160] or type(why).__name__
    return ChatTemplateError(
        f"The chat template inside {file_name} cannot be rendered here ({reason}): choose a chat format "
        "for it in Settings (ChatML, Llama 3 or Gemma)."
    )


def check_renders(file_name: str, render: Callable[[Sequence[dict[str, str]]], str]) -> str:
    """Render SAMPLE with ``render``; return the prompt, or raise ChatTemplateError saying why not."""
    try:
        prompt = render(SAMPLE)
    except ChatTemplateError:
        raise
    except Exception as exc:  # Jinja raises many kinds (TemplateError, TypeError, ValueError, ...)
        raise unrenderable_template_error(file_name, exc) from exc
    if not isinstance(prompt, str) or SAMPLE[-1]["content"] not in prompt:
        raise unrenderable_template_error(file_name, "it leaves out the messages")
    return prompt
