"""A chat model behind any OpenAI-compatible endpoint (llama-cpp-python's server, Ollama, LM Studio,
vLLM's chat API, hosted APIs): ``/v1/models`` and streamed ``/v1/chat/completions``.

Such a server renders its own template from the messages and offers no tokenizer Glassmind can use,
so counts are **estimated** with a local tokenizer (the bundled model's, by default) and corrected
by the server's ``usage`` where it reports one; ``exact_counts`` is False and the panel says "≈".
These servers tokenize message text with special tokens parsed (llama-cpp-python's does), so every
marker-like string in the text is broken with a zero-width space before sending
(``markers_neutralised``): a note cannot open a turn of its own.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from models.errors import InputTooLargeError, InvalidInputError, ServedModelError
from models.runtime import ChatRuntime, Generation, Progress, PromptPart, ReadAhead, Usage
from models.server_http import DEFAULT_TIMEOUT_S, Endpoint, parse_address

log = logging.getLogger(__name__)

DEFAULT_SERVED_CTX = 4096
# Markers of the common chat formats, whatever tokenizer the server has: ChatML / Llama 3 / Phi
# (<|...|>), Gemma (<start_of_turn>), Mistral ([INST]), and BOS/EOS (<s>, </s>).
_GENERIC_MARKERS = re.compile(
    r"<\|[^|<>\s]{1,40}\|>|</?s>|<(?:start|end)_of_turn>|\[/?(?:INST|SYS)\]|<</?SYS>>|<\|?(?:bos|eos|pad)\|?>"
)
_ZWSP = "\u200b"
_FINISH = {"stop": "stop", "length": "length", "eos": "stop", "tool_calls": "stop", "content_filter": "stop"}


def neutralise(text: str, markers: Sequence[str] = ()) -> str:
    """``text`` with every marker-like string (the generic ones, and ``markers``) broken by a zero-width
    space after its first character, until none is left (a break could complete another)."""
    extra = "|".join(re.escape(m) for m in markers if m)
    pattern = re.compile(_GENERIC_MARKERS.pattern + (f"|{extra}" if extra else ""))
    for _ in range(8):
        if pattern.search(text) is None:
            break
        text = pattern.sub(lambda m: m.group(0)[0] + _ZWSP + m.group(0)[1:], text)
    return text


class OpenAICompatModel:
    """A served model reached through the OpenAI chat API; counts estimated with ``tokenizer``.

    Implements ``models.runtime.ChatRuntime``. ``model``: the id from ``/v1/models`` (default: the
    first one the server lists). ``n_ctx``: the server's context size when known (default: what the
    server's model list says, else 4096, said in ``notice``).
    """

    backend = "OpenAI-compatible server"
    gpu_layers = 0
    exact_counts = False
    markers_neutralised = True

    def __init__(
        self,
        url: str,
        *,
        tokenizer: ChatRuntime,
        model: str | None = None,
        api_key: str | None = None,
        n_ctx: int | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        allow_plain_http: bool = False,
    ) -> None:
        self.endpoint = Endpoint(parse_address(url, allow_plain_http=allow_plain_http), api_key=api_key,
                                 timeout=timeout)
        self.tokenizer = tokenizer
        notices: list[str] = []
        listed = self.models()
        if not listed:
            raise ServedModelError(f"The server at {self.location} lists no model: load one there first.")
        ids = [str(m.get("id")) for m in listed]
        if model is not None and model not in ids:
            raise ServedModelError(
                f"The server at {self.location} no longer serves {model} (it has {', '.join(ids[:5])}): "
                "pick one of those in Settings → Models."
            )
        self.model_id = model or ids[0]
        entry = listed[ids.index(self.model_id)]
        listed_ctx = listed_context(entry)
        if n_ctx is None and listed_ctx is None:
            notices.append(
                f"{self.location} does not say its context size: assuming {DEFAULT_SERVED_CTX:,} tokens."
            )
        self.n_ctx: int = n_ctx or listed_ctx or DEFAULT_SERVED_CTX
        notices.append(
            "Token counts are estimated with the bundled tokenizer (≈), and template markers in your text "
            "are broken up before sending."
        )
        self.notice: str | None = " ".join(notices)
        self._name = name or self.model_id

    def __repr__(self) -> str:
        return f"OpenAICompatModel({self.endpoint.address.url}, {self.model_id})"

    def models(self) -> list[dict[str, Any]]:
        """The server's ``/v1/models`` list."""
        answer = self.endpoint.get("/v1/models")
        data = answer.get("data") if isinstance(answer, dict) else answer
        return [m for m in data if isinstance(m, dict)] if isinstance(data, list) else []

    # -- what the core asks of every runtime ------------------------------

    @property
    def name(self) -> str:
        return self._name

    @property
    def location(self) -> str:
        return self.endpoint.address.location

    def close(self) -> None:
        self.endpoint.close()

    def reset_cache(self) -> None:
        """The server's cache is the server's."""

    # -- tokens: estimates with the local tokenizer -----------------------

    def count_tokens(self, text: str) -> int:
        return self.tokenizer.count_tokens(text)

    def tokenize(self, text: str) -> list[int]:
        return self.tokenizer.tokenize(text)

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        return self.tokenizer.detokenize(tokens, special=special)

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return self.tokenizer.render(messages)

    def prompt_tokens(self, prompt: str) -> list[int]:
        return self.tokenizer.prompt_tokens(prompt)

    def tokenize_parts(self, parts: Sequence[PromptPart]) -> list[int]:
        return self.tokenizer.tokenize_parts(parts)

    def control_texts(self) -> Sequence[str]:
        return self.tokenizer.control_texts()

    def outgoing(self, messages: Sequence[dict[str, str]]) -> list[dict[str, str]]:
        """The messages as sent: every marker in their text broken up."""
        markers = self.tokenizer.control_texts()
        return [{"role": m["role"], "content": neutralise(m["content"], markers)} for m in messages]

    # -- generation -------------------------------------------------------

    def generate(
        self,
        prompt: str | Sequence[int],
        *,
        max_tokens: int = 512,
        temperature: float = 0.7,
        top_p: float = 0.95,
        top_k: int = 40,
        repeat_penalty: float = 1.1,
        cancel: threading.Event | None = None,
        progress: Progress | None = None,
        min_p: float = 0.05,
        messages: Sequence[dict[str, str]] | None = None,
    ) -> Generation:
        """Stream a reply to ``messages`` (the window's messages: this API takes no tokens);
        ``prompt`` is the window's estimate, checked against the context before sending."""
        started = time.perf_counter()
        if messages is None:
            raise InvalidInputError("An OpenAI-compatible server needs the window's messages, not only its tokens.")
        estimate = len(self.prompt_tokens(prompt) if isinstance(prompt, str) else prompt)
        if estimate >= self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is about {estimate:,} tokens but the server's context holds {self.n_ctx:,}: "
                "shorten it, or give the server's real context size in Settings → Models.",
                tokens=estimate,
                limit=self.n_ctx,
            )
        body: dict[str, Any] = {
            "model": self.model_id, "messages": self.outgoing(messages), "stream": True,
            "max_tokens": max(1, min(max_tokens, self.n_ctx - estimate)), "temperature": temperature,
            "top_p": top_p, "stream_options": {"include_usage": True},
        }
        gen = Generation(iter(()))
        gen._pieces = self._stream(gen, body, estimate, started, cancel, progress)
        return gen

    def _stream(
        self, gen: Generation, body: dict[str, Any], estimate: int, started: float,
        cancel: threading.Event | None, progress: Progress | None,
    ) -> Iterator[str]:
        first: float | None = None
        produced = 0
        finish: str | None = None
        usage: dict[str, Any] = {}
        stop_reason = "failed"
        try:
            if cancel is not None and cancel.is_set():
                stop_reason = "cancelled"
                return
            stream = self.endpoint.stream("/v1/chat/completions", body, cancel=cancel)
            for event in stream:
                if isinstance(event.get("usage"), dict):
                    usage = event["usage"]
                for choice in event.get("choices") or []:
                    delta = choice.get("delta") or {}
                    piece = str(delta.get("content") or "")
                    if choice.get("finish_reason"):
                        finish = str(choice["finish_reason"])
                    if piece:
                        if first is None:
                            first = time.perf_counter()
                            if progress is not None:
                                progress(estimate, estimate)
                        produced += 1
                        yield piece
                if cancel is not None and cancel.is_set():
                    stream.close()
                    break
            if stream.cancelled or (cancel is not None and cancel.is_set() and finish is None):
                stop_reason = "cancelled"
            elif finish is None:
                raise ServedModelError(
                    f"The model server at {self.location} broke off the reply: it may have stopped. "
                    "What it wrote so far is kept."
                )
            else:
                stop_reason = _FINISH.get(finish, "stop")
        finally:
            end = time.perf_counter()
            completion = int(usage.get("completion_tokens") or produced)
            decode_s = end - (first or end)
            gen.usage = Usage(
                prompt_tokens=int(usage.get("prompt_tokens") or estimate),
                reused_tokens=int((usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0),
                completion_tokens=completion,
                ttft_s=(first or end) - started,
                decode_tps=(completion - 1) / decode_s if completion > 1 and decode_s > 0 else 0.0,
                total_s=end - started,
                stop_reason=stop_reason,
            )

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        abandon: threading.Event | None = None,
        progress: Progress | None = None,
        holding: threading.Event | None = None,
    ) -> int:
        """Nothing: this API cannot read a prompt ahead."""
        if holding is not None:
            holding.set()
        return 0

    def read_ahead(
        self, tokens: Sequence[int], *, cancel: threading.Event | None = None, progress: Progress | None = None
    ) -> ReadAhead:
        return ReadAhead.nothing()

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, object],
        *,
        max_tokens: int = 512,
        cancel: threading.Event | None = None,
    ) -> object | None:
        """A reply constrained to JSON matching ``schema`` (OpenAI's ``json_schema`` response format;
        llama-cpp-python's ``json_object`` with a schema where that is refused), parsed; greedy."""
        body: dict[str, Any] = {
            "model": self.model_id, "messages": self.outgoing(messages), "max_tokens": max_tokens,
            "temperature": 0.0, "stream": True,
            "response_format": {"type": "json_schema", "json_schema": {"name": "notes", "schema": schema}},
        }
        try:
            text = self._collect(body, cancel)
        except ServedModelError as exc:
            # Refused (llama-cpp-python's server answers 500 to a format it does not know): its own form.
            if exc.status is None or exc.status in (401, 403):
                raise
            body["response_format"] = {"type": "json_object", "schema": schema}
            text = self._collect(body, cancel)
        if text is None:
            return None
        try:
            answer: object = json.loads(text)
            return answer
        except ValueError:
            log.warning("constrained output from %s did not parse", self.location)
            return None

    def _collect(self, body: dict[str, Any], cancel: threading.Event | None) -> str | None:
        out: list[str] = []
        stream = self.endpoint.stream("/v1/chat/completions", body, cancel=cancel)
        for event in stream:
            for choice in event.get("choices") or []:
                out.append(str((choice.get("delta") or {}).get("content") or ""))
        if stream.cancelled or (cancel is not None and cancel.is_set()):
            return None
        return "".join(out)


def listed_context(entry: dict[str, Any]) -> int | None:
    """The context size a ``/v1/models`` entry states (vLLM: max_model_len; LM Studio and others:
    context_length; llama.cpp's server: meta.n_ctx)."""
    meta = entry.get("meta") if isinstance(entry.get("meta"), dict) else {}
    assert isinstance(meta, dict)
    for value in (entry.get("max_model_len"), entry.get("context_length"), meta.get("n_ctx"),
                  meta.get("n_ctx_train")):
        if isinstance(value, int) and value > 0:
            return value
    return None
