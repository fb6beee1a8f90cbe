"""A chat model served by llama.cpp's ``llama-server``: the exact path.

The template and context size come from ``/props``; text is tokenized by the server with
``parse_special: false`` (template markers in a note stay text), template pieces with it on; the
window goes to ``/completion`` as the array of token ids Glassmind assembled, with
``cache_prompt: true`` so the server reuses its KV cache for the unchanged prefix. Counts are the
server's own, so they are exact.
"""

from __future__ import annotations

import collections
import json
import logging
import re
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from models.chat_template import ChatTemplate
from models.errors import InputTooLargeError, InvalidInputError, ServedModelError
from models.runtime import Generation, Progress, PromptPart, ReadAhead, Usage
from models.server_http import DEFAULT_TIMEOUT_S, Endpoint, parse_address

log = logging.getLogger(__name__)

TOKEN_CACHE_SIZE = 4096
# Marker-like strings of a chat template (``<|im_start|>``, ``<start_of_turn>``, ``[INST]``):
# candidates for control_texts(), each checked against the server's tokenizer.
_MARKER = re.compile(r"<\|[^|<>\s]{1,40}\|>|<[A-Za-z_][A-Za-z0-9_]{0,40}>|\[/?[A-Z_]{2,20}\]")
_STOP_REASONS = {"eos": "stop", "word": "stop", "limit": "length"}


class LlamaServerModel:
    """A model on a llama-server: exact counts, the window sent as token ids, streamed replies.

    Implements ``models.runtime.ChatRuntime``. ``name``: what the registry calls it (default: the
    server's model alias or file name).
    """

    backend = "llama-server"
    gpu_layers = 0  # the server's business: nothing is offloaded here
    exact_counts = True
    markers_neutralised = False

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        name: str | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        allow_plain_http: bool = False,
        seed: int = 0,
    ) -> None:
        self.endpoint = Endpoint(parse_address(url, allow_plain_http=allow_plain_http), api_key=api_key,
                                 timeout=timeout)
        self.notice: str | None = None
        self._seed = seed
        props = self.endpoint.get("/props")
        if not isinstance(props, dict) or "default_generation_settings" not in props:
            raise ServedModelError(
                f"{self.location} does not answer like llama.cpp's llama-server (no /props): add it as an "
                "OpenAI-compatible server instead."
            )
        self.props: dict[str, Any] = props
        self.n_ctx = int(props["default_generation_settings"].get("n_ctx") or 0)
        if self.n_ctx <= 0:
            raise ServedModelError(f"The llama-server at {self.location} did not say its context size.")
        template = str(props.get("chat_template") or "")
        if not template:
            raise ServedModelError(
                f"The model on {self.location} has no chat template: start llama-server with --chat-template."
            )
        model_path = str(props.get("model_path") or "")
        self._name = name or str(props.get("model_alias") or "") or model_path.rsplit("/", 1)[-1] or self.location
        self.chat_template = template
        self._template = ChatTemplate(
            template, bos_token=str(props.get("bos_token") or ""), eos_token=str(props.get("eos_token") or "")
        )
        self._bos_text = self._template.bos_token
        self._token_cache: collections.OrderedDict[tuple[str, bool], tuple[int, ...]] = collections.OrderedDict()
        self._cache_lock = threading.Lock()
        # Whether the model adds BOS, and which: the difference between "a" tokenized with and without it.
        bare = self._server_tokens("a", special=False, add_special=False)
        added = self._server_tokens("a", special=False, add_special=True)
        self._bos: int | None = added[0] if len(added) > len(bare) and added[1:] == bare else None
        self._control_texts: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"LlamaServerModel({self.endpoint.address.url}, {self._name})"

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
        """Nothing to do here: the server's cache is the server's (benchmarks send cache_prompt off)."""

    # -- tokens -----------------------------------------------------------

    def _server_tokens(self, text: str, *, special: bool, add_special: bool = False) -> list[int]:
        answer = self.endpoint.post("/tokenize", {"content": text, "add_special": add_special,
                                                  "parse_special": special})
        tokens = answer.get("tokens") if isinstance(answer, dict) else None
        if not isinstance(tokens, list):
            raise ServedModelError(f"The llama-server at {self.location} answered /tokenize without tokens.")
        return [int(t) for t in tokens]

    def _piece_tokens(self, text: str, special: bool) -> tuple[int, ...]:
        key = (text, special)
        with self._cache_lock:
            tokens = self._token_cache.get(key)
            if tokens is not None:
                self._token_cache.move_to_end(key)
                return tokens
        tokens = tuple(self._server_tokens(text, special=special))
        with self._cache_lock:
            self._token_cache[key] = tokens
            if len(self._token_cache) > TOKEN_CACHE_SIZE:
                self._token_cache.popitem(last=False)
        return tokens

    def tokenize(self, text: str) -> list[int]:
        """Tokens of plain text (no BOS, special markers not parsed)."""
        return list(self._piece_tokens(text, False)) if text else []

    def count_tokens(self, text: str) -> int:
        return len(self._piece_tokens(text, False)) if text else 0

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str:
        """Text of tokens. llama-server writes control tokens as their text either way."""
        answer = self.endpoint.post("/detokenize", {"tokens": list(tokens)})
        return str(answer.get("content", "")) if isinstance(answer, dict) else ""

    def render(self, messages: Sequence[dict[str, str]]) -> str:
        return self._template.render(messages)

    def prompt_tokens(self, prompt: str) -> list[int]:
        return self.tokenize_parts([(prompt, True)])

    def tokenize_parts(self, parts: Sequence[PromptPart]) -> list[int]:
        """The exact tokens of a prompt given as (text, is_template) parts: template parts parsed for
        control tokens, other text literal; BOS first when the model adds one (as models/llama.py)."""
        out: list[int] = []
        first = next((p for p in parts if p[0]), None)
        if self._bos is not None and not (
            first is not None and first[1] and self._bos_text and first[0].startswith(self._bos_text)
        ):
            out.append(self._bos)
        for text, is_template in parts:
            if text:
                out += self._piece_tokens(text, is_template)
        return out

    def control_texts(self) -> tuple[str, ...]:
        """Control-token texts this model's template uses (with BOS and EOS): each marker-like string
        of the template that the server reads as one token with special parsing and as several
        without. llama-server does not list its vocabulary's attributes, so this is the template's
        markers, not every control token of the vocabulary."""
        if self._control_texts is None:
            candidates = set(_MARKER.findall(self.chat_template))
            candidates.update(t for t in (self._template.bos_token, self._template.eos_token) if t)
            found = []
            for text in candidates:
                if len(self._piece_tokens(text, True)) == 1 and len(self._piece_tokens(text, False)) > 1:
                    found.append(text)
            self._control_texts = tuple(sorted(found, key=lambda t: (-len(t), t)))
        return self._control_texts

    # -- generation -------------------------------------------------------

    def _checked(self, prompt: str | Sequence[int], max_tokens: int) -> tuple[list[int], int]:
        tokens = self.prompt_tokens(prompt) if isinstance(prompt, str) else list(prompt)
        if not tokens:
            raise InvalidInputError("The prompt is empty: there is nothing to reply to.")
        # Checked here: some servers answer an overflow with an empty 200 OK.
        if len(tokens) >= self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is {len(tokens):,} tokens but the server's context holds {self.n_ctx:,}: "
                "shorten it, or start the server with a larger context.",
                tokens=len(tokens),
                limit=self.n_ctx,
            )
        return tokens, max(1, min(max_tokens, self.n_ctx - len(tokens)))

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
        """Stream a reply to the window's tokens; ``cancel`` hangs up, and the server stops."""
        started = time.perf_counter()
        tokens, budget = self._checked(prompt, max_tokens)
        body = {
            "prompt": tokens, "n_predict": budget, "stream": True, "cache_prompt": True,
            "temperature": temperature, "top_p": top_p, "top_k": top_k, "repeat_penalty": repeat_penalty,
            "min_p": min_p, "seed": self._seed,
        }
        gen = Generation(iter(()))
        gen._pieces = self._stream(gen, body, len(tokens), started, cancel, progress)
        return gen

    def _stream(
        self, gen: Generation, body: dict[str, Any], total: int, started: float,
        cancel: threading.Event | None, progress: Progress | None,
    ) -> Iterator[str]:
        first: float | None = None
        produced = 0
        final: dict[str, Any] = {}
        stop_reason = "failed"
        try:
            if cancel is not None and cancel.is_set():
                stop_reason = "cancelled"
                return
            stream = self.endpoint.stream("/completion", body, cancel=cancel)
            for event in stream:
                piece = str(event.get("content") or "")
                if event.get("stop"):
                    final = event
                if piece:
                    if first is None:
                        first = time.perf_counter()
                        if progress is not None:
                            progress(total, total)
                    produced += 1
                    yield piece
                if final:
                    break
                if cancel is not None and cancel.is_set():
                    stream.close()  # hang up: the server stops generating
                    break
            if stream.cancelled or (cancel is not None and cancel.is_set() and not final):
                stop_reason = "cancelled"
            elif not final:
                raise ServedModelError(
                    f"The model server at {self.location} broke off the reply: it may have stopped. "
                    "What it wrote so far is kept."
                )
            else:
                stop_reason = _STOP_REASONS.get(str(final.get("stop_type")), "stop")
        finally:
            end = time.perf_counter()
            timings = final.get("timings") if isinstance(final.get("timings"), dict) else {}
            assert isinstance(timings, dict)
            completion = int(timings.get("predicted_n") or final.get("tokens_predicted") or produced)
            decode_s = end - (first or end)
            gen.usage = Usage(
                prompt_tokens=total,
                reused_tokens=int(timings.get("cache_n") or 0),
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
        """Have the server read ``tokens`` into its cache (a request that writes nothing)."""
        if holding is not None:
            holding.set()
        tokens = list(tokens)[: self.n_ctx - 1]
        if not tokens or (cancel is not None and cancel.is_set()) or (abandon is not None and abandon.is_set()):
            return 0
        answer = self.endpoint.post("/completion", {"prompt": tokens, "n_predict": 0, "cache_prompt": True})
        if progress is not None:
            progress(len(tokens), len(tokens))
        return len(tokens) if isinstance(answer, dict) else 0

    def read_ahead(
        self, tokens: Sequence[int], *, cancel: threading.Event | None = None, progress: Progress | None = None
    ) -> ReadAhead:
        """Nothing ahead of a turn: the server reads the unchanged prefix from its own cache anyway."""
        return ReadAhead.nothing()

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, object],
        *,
        max_tokens: int = 512,
        cancel: threading.Event | None = None,
    ) -> object | None:
        """A reply constrained by the server's grammar to JSON matching ``schema``, parsed; greedy.
        None when cancelled or when the answer does not parse."""
        tokens = self.prompt_tokens(self.render(messages))
        if len(tokens) + max_tokens > self.n_ctx:
            raise InputTooLargeError(
                f"The prompt is {len(tokens):,} tokens; with {max_tokens:,} for the answer it does not fit "
                f"in the server's context of {self.n_ctx:,}.",
                tokens=len(tokens),
                limit=self.n_ctx - max_tokens,
            )
        body = {
            "prompt": tokens, "n_predict": max_tokens, "stream": True, "temperature": 0.0,
            "repeat_penalty": 1.1, "json_schema": schema, "seed": self._seed,
            # A side question must not evict the chat's cached prompt: use no cache for it.
            "cache_prompt": False,
        }
        out: list[str] = []
        stream = self.endpoint.stream("/completion", body, cancel=cancel)
        for event in stream:
            out.append(str(event.get("content") or ""))
            if event.get("stop"):
                break
        if stream.cancelled or (cancel is not None and cancel.is_set()):
            return None
        try:
            answer: object = json.loads("".join(out))
            return answer
        except ValueError:
            log.warning("constrained output from %s did not parse", self.location)
            return None
