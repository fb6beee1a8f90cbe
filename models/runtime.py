"""The chat runtime interface: what the core asks of a chat model, wherever it runs.

``models.llama.ChatModel`` (llama.cpp in this process) and ``models.served.LlamaServerModel`` (llama.cpp's
``llama-server`` over HTTP) both implement ``ChatRuntime``; the core (assistant/) is typed against it and
never knows which one it talks to. The values a generation hands back (``Generation``, ``Usage``) and the
prompt's shape (``PromptPart``) live here too, so neither runtime imports the other.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

log = logging.getLogger(__name__)

# A prompt's parts: (text, is_template). Only template text may contain control tokens.
PromptPart = tuple[str, bool]
# progress(done, total): prompt tokens in the KV cache so far, of the prompt's length.
Progress = Callable[[int, int], None]

LOCAL = "local"


@dataclass(frozen=True)
class Usage:
    """Figures of one generation."""

    prompt_tokens: int
    reused_tokens: int  # prompt prefix already in the KV cache (here or on the server)
    completion_tokens: int
    ttft_s: float
    decode_tps: float
    total_s: float
    stop_reason: str  # "stop", "length", "cancelled" or "failed" (a served model that broke off)

    @property
    def evaluated_tokens(self) -> int:
        """Prompt tokens the runtime actually had to read for this generation."""
        return self.prompt_tokens - self.reused_tokens


@dataclass(frozen=True)
class Sampling:
    """How the next token is picked (llama.cpp's sampler settings)."""

    temperature: float = 0.7
    top_p: float = 0.95
    top_k: int = 40
    repeat_penalty: float = 1.1
    min_p: float = 0.05


class Generation:
    """An iterator of text pieces; ``usage`` is set once it is exhausted (or closed)."""

    def __init__(self, pieces: Iterator[str]) -> None:
        self._pieces = pieces
        self.usage: Usage | None = None

    def __iter__(self) -> Iterator[str]:
        return self._pieces


@dataclass
class ReadAhead:
    """A turn's prompt up to its new text, being read into the KV cache on the model's own thread
    (``ChatRuntime.read_ahead``) while the turn embeds its query, searches and assembles the rest.

    ``follow()`` before the turn's ``generate``: from then on the read-ahead holds the model, so
    ``generate`` waits for it and reads only what follows. ``abandon()`` when the turn ends or
    fails: a read-ahead still running stops at its next chunk, one not yet started never touches
    the cache.
    """

    holding: threading.Event = field(default_factory=threading.Event)
    abandoned: threading.Event = field(default_factory=threading.Event)
    future: Future[int] | None = None

    def follow(self) -> None:
        self.holding.wait()

    def abandon(self) -> None:
        self.abandoned.set()

    def cached(self) -> int:
        """Tokens it read into the cache (0 if it failed or was abandoned before starting); waits."""
        try:
            return self.future.result() if self.future is not None else 0
        except Exception:  # only a head start: the turn's own read reports what is wrong
            log.debug("read-ahead failed", exc_info=True)
            return 0

    @classmethod
    def nothing(cls) -> ReadAhead:
        """A read-ahead that read nothing (a runtime without a cache to warm here)."""
        ahead = cls()
        ahead.holding.set()
        return ahead


@runtime_checkable
class ChatRuntime(Protocol):
    """A chat model as the core uses it: counts, the window's tokens, streamed and JSON replies.

    ``exact_counts``: whether token counts are the model's own (False: estimated with another
    tokenizer; the panel says "≈"). ``markers_neutralised``: whether template markers in user text
    are altered before sending because the runtime cannot keep them as plain text. ``generate`` takes
    the window's tokens and, for runtimes that take no tokens (the OpenAI chat API), its ``messages``:
    the core passes both. ``location``:
    ``"local"`` or the ``host:port`` the window is sent to.
    """

    n_ctx: int
    backend: str
    gpu_layers: int
    notice: str | None

    @property
    def name(self) -> str:
        """The model's name as messages record it (a file name, or the served model's id)."""
        ...

    @property
    def location(self) -> str: ...

    @property
    def exact_counts(self) -> bool: ...

    @property
    def markers_neutralised(self) -> bool: ...

    # -- tokens
    def count_tokens(self, text: str) -> int: ...

    def tokenize(self, text: str) -> list[int]: ...

    def detokenize(self, tokens: Sequence[int], *, special: bool = False) -> str: ...

    def render(self, messages: Sequence[dict[str, str]]) -> str: ...

    def prompt_tokens(self, prompt: str) -> list[int]: ...

    def tokenize_parts(self, parts: Sequence[tuple[str, bool]]) -> list[int]: ...

    def control_texts(self) -> Sequence[str]: ...

    # -- generation
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
    ) -> Generation: ...

    def prefill(
        self,
        tokens: Sequence[int],
        *,
        cancel: threading.Event | None = None,
        abandon: threading.Event | None = None,
        progress: Progress | None = None,
        holding: threading.Event | None = None,
    ) -> int: ...

    def read_ahead(
        self, tokens: Sequence[int], *, cancel: threading.Event | None = None, progress: Progress | None = None
    ) -> ReadAhead: ...

    def complete_json(
        self,
        messages: Sequence[dict[str, str]],
        schema: dict[str, object],
        *,
        max_tokens: int = 512,
        cancel: threading.Event | None = None,
    ) -> object | None: ...

    def reset_cache(self) -> None: ...

    def close(self) -> None: ...
