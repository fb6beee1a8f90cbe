"""What a turn yields as it goes (the window, tokens, the stored reply or a failure), and the loaded
model as the status bar shows it: the values the CLI and the engine thread receive."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from assistant.context import ContextWindow
from assistant.store import Message
from models.llama import Usage


@dataclass
class ContextReady:
    window: ContextWindow
    user_message: Message


@dataclass
class Token:
    text: str


@dataclass(frozen=True)
class Finished:
    """The reply is stored: it, the figures of its generation, and its turn record."""

    reply: Message
    usage: Usage
    turn_id: int


@dataclass(frozen=True)
class ModelInfo:
    """The loaded chat model as the status bar shows it."""

    name: str
    backend: str  # "CUDA", "Metal", "CPU", ...
    n_ctx: int
    gpu_layers: int
    notice: str = ""  # a sentence when loading had to fall back (e.g. to the CPU)
    location: str = "local"  # or the host:port of the server the window is sent to
    exact_counts: bool = True  # False: counts estimated with the bundled tokenizer (shown "≈")


@dataclass
class Failed:
    error: str
    user_message: Message | None
    partial: Message | None = None
    exception: BaseException | None = field(default=None, repr=False)


TurnEvent = ContextReady | Token | Finished | Failed
Reading = Callable[[int, int], None]  # (prompt tokens read, prompt tokens)
