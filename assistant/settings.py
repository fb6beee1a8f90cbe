"""User settings, persisted in the database's settings table."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from models.errors import InvalidInputError
from models.registry import BUNDLED_FILE
from models.templates import FALLBACKS

DEFAULT_SYSTEM_PROMPT = (
    "You are Glassmind, a helpful assistant running offline on the user's computer. "
    "Answer clearly and briefly."
)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and v == v  # not NaN


# What a stored value must be, field by field, and how to say it when it is not.
_CHECKS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "model": (lambda v: v is None or isinstance(v, str), "a model name or path"),
    "n_ctx": (lambda v: v is None or (_is_int(v) and 256 <= v <= 1_048_576), "a whole number from 256 to 1,048,576"),
    "gpu_layers": (lambda v: v is None or (_is_int(v) and -1 <= v <= 100_000), "a whole number of layers (0: CPU)"),
    "temperature": (lambda v: _is_number(v) and 0.0 <= v <= 2.0, "a number from 0 to 2"),
    "top_p": (lambda v: _is_number(v) and 0.0 < v <= 1.0, "a number above 0, at most 1"),
    "min_p": (lambda v: _is_number(v) and 0.0 <= v < 1.0, "a number from 0, below 1"),
    "repeat_penalty": (lambda v: _is_number(v) and 1.0 <= v <= 2.0, "a number from 1 to 2"),
    "max_tokens": (lambda v: _is_int(v) and 1 <= v <= 32768, "a whole number from 1 to 32,768"),
    "system_prompt": (lambda v: isinstance(v, str) and bool(v.strip()), "some text"),
    "memory_budget": (lambda v: _is_int(v) and 0 <= v <= 65536, "a whole number from 0 to 65,536"),
    "retrieval": (lambda v: isinstance(v, bool), "true or false"),
    "chat_template": (lambda v: v is None or v in FALLBACKS, "a chat format (" + ", ".join(FALLBACKS) + ")"),
    "per_model": (lambda v: isinstance(v, dict), "a table of settings per model"),
    "threads": (lambda v: _is_int(v) and 0 <= v <= 1024, "a whole number of threads (0: automatic)"),
    "flash_attn": (lambda v: v is None or isinstance(v, bool), "true, false or automatic"),
    "auto_approve": (lambda v: isinstance(v, bool), "true or false"),
    "suggest_notes": (lambda v: isinstance(v, bool), "true or false"),
}
# What is remembered for each model, and applied again when it is chosen.
PER_MODEL = ("n_ctx", "gpu_layers", "temperature", "chat_template", "top_p", "min_p", "repeat_penalty")
# Sampling: numbers, kept per model; a model used before they existed gets the defaults.
SAMPLING = ("temperature", "top_p", "min_p", "repeat_penalty")


def model_key(model: str | None) -> str:
    """The key of a model's own settings: its registry name (the file name without .gguf)."""
    name = Path(model).name if model else BUNDLED_FILE
    return name[:-5] if name.lower().endswith(".gguf") else name


def _shown(value: Any) -> str:
    return repr(value) if len(repr(value)) <= 40 else repr(value)[:40] + "…"


@dataclass
class Settings:
    model: str | None = None  # registry name or path; None: the bundled default
    n_ctx: int | None = None  # None: the model's trained context, capped at 8192
    gpu_layers: int | None = None  # None: every layer when the build can offload; 0: CPU
    temperature: float = 0.7
    top_p: float = 0.95  # nucleus sampling: the smallest set of tokens that holds this much probability
    min_p: float = 0.05  # drop tokens less likely than this share of the likeliest one
    repeat_penalty: float = 1.1  # 1: none
    max_tokens: int = 512  # also the reply reserve in the context window
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    memory_budget: int = 512  # tokens for retrieved notes per turn
    retrieval: bool = True
    chat_template: str | None = None  # a fallback chat format (models/templates.py); None: the model's own
    threads: int = 0  # llama.cpp decode threads; 0: automatic (models.llama.default_threads)
    flash_attn: bool | None = None  # None: on when layers are on a GPU, off on the CPU
    # n_ctx, gpu_layers, temperature and chat_template of each model used, by model_key().
    per_model: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Suggested notes become notes without asking (issue 11); off: the user approves each one.
    auto_approve: bool = False
    suggest_notes: bool = True  # off: no model call after a reply proposes notes
    # One sentence per stored value that could not be used (its default is used instead);
    # not a setting: never saved, not compared.
    problems: list[str] = field(default_factory=list, init=False, repr=False, compare=False)

    def validate(self) -> Settings:
        if self.n_ctx is not None and not 256 <= self.n_ctx <= 1_048_576:
            raise InvalidInputError("The context size must be between 256 and 1,048,576 tokens.")
        if not 0.0 <= self.temperature <= 2.0:
            raise InvalidInputError("The temperature must be between 0 and 2.")
        if not 0.0 < self.top_p <= 1.0:
            raise InvalidInputError("Top-p must be above 0 and at most 1.")
        if not 0.0 <= self.min_p < 1.0:
            raise InvalidInputError("Min-p must be at least 0 and below 1.")
        if not 1.0 <= self.repeat_penalty <= 2.0:
            raise InvalidInputError("The repeat penalty must be between 1 (none) and 2.")
        if not 1 <= self.max_tokens <= 32768:
            raise InvalidInputError("Max reply tokens must be between 1 and 32,768.")
        if not 0 <= self.threads <= 1024:
            raise InvalidInputError("Threads must be between 0 (automatic) and 1,024.")
        if not 0 <= self.memory_budget <= 65536:
            raise InvalidInputError("The memory budget must be between 0 and 65,536 tokens.")
        if not self.system_prompt.strip():
            raise InvalidInputError("The system prompt cannot be empty.")
        if self.chat_template is not None and self.chat_template not in FALLBACKS:
            raise InvalidInputError(f"There is no chat format called '{self.chat_template}'.")
        return self

    def remember(self) -> Settings:
        """These settings with the current model's n_ctx, GPU layers, temperature and chat format noted."""
        per_model = dict(self.per_model)
        per_model[model_key(self.model)] = {k: getattr(self, k) for k in PER_MODEL}
        return replace(self, per_model=per_model)

    def for_model(self, model: str | None) -> Settings:
        """Switch to ``model`` with the settings it had last time (defaults for a model never used;
        the temperature, a preference more than a property of the model, carries over)."""
        base = self.remember()
        saved = base.per_model.get(model_key(model), {})
        return replace(
            base,
            model=model,
            n_ctx=saved.get("n_ctx"),
            gpu_layers=saved.get("gpu_layers"),
            temperature=saved.get("temperature", self.temperature),
            chat_template=saved.get("chat_template"),
            top_p=saved.get("top_p", DEFAULTS.top_p),
            min_p=saved.get("min_p", DEFAULTS.min_p),
            repeat_penalty=saved.get("repeat_penalty", DEFAULTS.repeat_penalty),
        )

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("problems", None)
        return data

    @classmethod
    def from_json(cls, data: Any) -> Settings:
        """Settings from what was stored; a value of the wrong type or out of range falls back to
        its default, and ``problems`` says which (so a hand-edited or old database still opens)."""
        problems: list[str] = []
        values: dict[str, Any] = {}
        if data is not None and not isinstance(data, dict):
            problems.append(
                "The stored settings are not readable, so the defaults are used: save them again in Settings."
            )
            data = None
        names = {f.name for f in fields(cls) if f.init}
        for key, value in (data or {}).items():
            if key not in names:
                continue  # a setting of another version: ignored
            check, wanted = _CHECKS[key]
            if not check(value):
                problems.append(
                    f"The stored setting {key} = {_shown(value)} is not {wanted}; "
                    "the default is used until you change it in Settings."
                )
                continue
            if key == "per_model":
                value = _per_model_from_json(value, problems)
            values[key] = float(value) if key in SAMPLING else value
        settings = cls(**values)
        settings.problems = problems
        return settings


DEFAULTS = Settings()


def _per_model_from_json(data: dict[Any, Any], problems: list[str]) -> dict[str, dict[str, Any]]:
    """Each model's stored settings, keeping the valid values and naming the others."""
    out: dict[str, dict[str, Any]] = {}
    for model, values in data.items():
        if not isinstance(model, str) or not isinstance(values, dict):
            problems.append(f"The stored settings of model {_shown(model)} are not readable; its defaults are used.")
            continue
        kept: dict[str, Any] = {}
        for key, value in values.items():
            if key not in PER_MODEL:
                continue
            check, wanted = _CHECKS[key]
            if check(value):
                kept[key] = float(value) if key in SAMPLING else value
            else:
                problems.append(
                    f"The stored setting {key} = {_shown(value)} of model {model} is not {wanted}; "
                    "its default is used until you change it in Settings."
                )
        out[model] = kept
    return out
