"""User settings, persisted in the database's settings table."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from models.errors import InvalidInputError

DEFAULT_SYSTEM_PROMPT = (
    "You are Glassmind, a helpful assistant running offline on the user's computer. "
    "Answer clearly and briefly."
)


@dataclass
class Settings:
    model: str | None = None  # registry name or path; None: the bundled default
    n_ctx: int | None = None  # None: the model's trained context, capped at 8192
    gpu_layers: int | None = None  # None: every layer when the build can offload; 0: CPU
    temperature: float = 0.7
    max_tokens: int = 512  # also the reply reserve in the context window
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    memory_budget: int = 512  # tokens for retrieved notes per turn
    retrieval: bool = True

    def validate(self) -> "Settings":
        if self.n_ctx is not None and not 256 <= self.n_ctx <= 1_048_576:
            raise InvalidInputError("The context size must be between 256 and 1,048,576 tokens.")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidInputError("The temperature must be between 0 and 2.")
        if not 1 <= self.max_tokens <= 32768:
            raise InvalidInputError("Max reply tokens must be between 1 and 32,768.")
        if not 0 <= self.memory_budget <= 65536:
            raise InvalidInputError("The memory budget must be between 0 and 65,536 tokens.")
        if not self.system_prompt.strip():
            raise InvalidInputError("The system prompt cannot be empty.")
        return self

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> "Settings":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in (data or {}).items() if k in names})
