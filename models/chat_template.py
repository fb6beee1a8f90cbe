"""A chat template rendered here, the way llama-cpp-python renders it, for a model that runs elsewhere.

The served runtime gets its template from the server (``/props``) and renders the window itself, so
what it sends (token ids) is exactly what the panel shows. Same Jinja settings as
``llama_cpp.llama_chat_format.Jinja2ChatFormatter`` (which models/llama.py uses), so a local and a
served copy of one model render the same text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment


class _IgnoreGenerationTags(jinja2.ext.Extension):
    """Pass-through for Hugging Face's ``{% generation %}`` chat-template tag."""

    tags = {"generation"}  # jinja2's own class attribute

    def parse(self, parser: Any) -> Any:
        parser.stream.skip(1)
        return parser.parse_statements(("name:endgeneration",), drop_needle=True)


def _tojson(
    x: Any, ensure_ascii: bool = False, indent: int | None = None,
    separators: tuple[str, str] | None = None, sort_keys: bool = False,
) -> str:
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)


def _raise(message: str) -> None:
    raise ValueError(message)


class ChatTemplate:
    """One compiled chat template; ``render`` ends with the assistant's turn opened."""

    def __init__(self, template: str, *, bos_token: str, eos_token: str) -> None:
        environment = ImmutableSandboxedEnvironment(
            loader=jinja2.BaseLoader(), trim_blocks=True, lstrip_blocks=True,
            extensions=[_IgnoreGenerationTags, jinja2.ext.loopcontrols],
        )
        environment.filters["tojson"] = _tojson
        self.source = template
        self._template = environment.from_string(template)
        self.bos_token = bos_token
        self.eos_token = eos_token

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return self._template.render(
            messages=[dict(m) for m in messages], eos_token=self.eos_token, bos_token=self.bos_token,
            raise_exception=_raise, add_generation_prompt=True, functions=None, function_call=None,
            tools=None, tool_choice=None, strftime_now=lambda f: datetime.now().strftime(f),
        )
