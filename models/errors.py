"""The errors a user can see. The text of each one is the sentence shown."""

from __future__ import annotations


class GlassmindError(Exception):
    """Base class: ``str(err)`` says what happened and what to do."""


class ModelFileError(GlassmindError):
    """A model file is missing, unreadable, truncated or not a GGUF."""


class ModelLoadError(GlassmindError):
    """llama.cpp could not load a model (memory, context size, backend)."""


class InputTooLargeError(GlassmindError):
    """A message cannot fit in the model's context window."""

    def __init__(self, message: str, *, tokens: int, limit: int) -> None:
        super().__init__(message)
        self.tokens = tokens
        self.limit = limit


class StoreError(GlassmindError):
    """The database cannot be opened or written."""


class NotFoundError(GlassmindError):
    """An id the user named does not exist (or was forgotten)."""


class InvalidInputError(GlassmindError):
    """Text or a setting the user gave cannot be used as it is."""


class ServedModelError(GlassmindError):
    """A model server could not be reached, refused the request, or broke off a reply."""

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status  # the HTTP status, when the server answered with an error
