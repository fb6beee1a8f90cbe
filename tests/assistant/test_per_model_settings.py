"""A model's own settings (context, GPU layers, temperature, chat format) are applied when it is chosen,
in the core and in `glassmind chat --model`; a fallback chat format lets a GGUF without a template chat."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import assistant.cli as cli
from assistant.app import Assistant, Finished
from tests.runtimes import local
from tests.tiny_gguf import write_tiny_gguf

if TYPE_CHECKING:
    import pytest

    from models.embedder import Embedder


def test_choosing_a_model_applies_its_own_settings(glassmind_home: Path, embedder: Embedder, tmp_path: Path) -> None:
    bare = write_tiny_gguf(tmp_path / "bare.gguf", chat_template=None)
    app = Assistant(glassmind_home, embedder=embedder)
    try:
        app.save_settings(app.settings.for_model(None))  # the bundled model, as it was
        with_bare = app.settings.for_model(str(bare))
        with_bare.n_ctx, with_bare.temperature, with_bare.chat_template = 1024, 0.0, "chatml"
        app.save_settings(with_bare.remember())
        model = local(app.load_model())
        assert model.path == bare and model.n_ctx == 1024 and model.template_is_fallback
        app.settings.max_tokens = 4
        events = list(app.turn(None, "hello"))
        assert isinstance(events[-1], Finished), events[-1]
        # Back to the bundled model: its own (default) values, and its own template.
        app.save_settings(app.settings.for_model(None))
        assert app._model is None and app.settings.n_ctx is None and app.settings.chat_template is None
        # ... and choosing the tiny one again brings its values back.
        again = app.settings.for_model(str(bare))
        assert (again.n_ctx, again.chat_template) == (1024, "chatml")
    finally:
        app.close()


def test_chat_model_option_uses_the_models_settings(glassmind_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], embedder: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = write_tiny_gguf(tmp_path / "bare.gguf", chat_template=None)
    monkeypatch.setattr(cli, "Assistant", lambda: Assistant(embedder=embedder))
    assert cli.main(["models", "--add", str(bare)]) == 0
    code = cli.main(["chat", "--once", "hello", "--model", "bare"])
    assert code == 1 and "no chat template" in capsys.readouterr().err  # nothing chosen yet: it says so
    assert cli.main(["models", "set", "bare", "--template", "chatml", "--ctx", "512"]) == 0
    capsys.readouterr()
    assert cli.main(["chat", "--once", "hello", "--model", "bare"]) == 0
    assert capsys.readouterr().out.strip() != ""
