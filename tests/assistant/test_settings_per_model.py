"""Per-model settings in the settings JSON: remembered, applied on choosing a model, checked when read."""

from __future__ import annotations

from assistant.settings import Settings, model_key


def test_each_model_keeps_its_own_values() -> None:
    s = Settings(n_ctx=2048, gpu_layers=0, temperature=0.3)
    qwen = s.for_model("/models/qwen2.5-1.5b-instruct-q4_k_m.gguf")
    assert (qwen.n_ctx, qwen.gpu_layers, qwen.temperature, qwen.chat_template) == (None, None, 0.3, None)
    qwen.n_ctx, qwen.temperature, qwen.chat_template = 8192, 0.6, "chatml"
    back = qwen.for_model(None)
    assert (back.model, back.n_ctx, back.gpu_layers, back.temperature) == (None, 2048, 0, 0.3)
    again = back.for_model("qwen2.5-1.5b-instruct-q4_k_m")  # by registry name: the same model
    assert (again.n_ctx, again.temperature, again.chat_template) == (8192, 0.6, "chatml")
    assert model_key(None) == "SmolLM2-135M-Instruct.Q4_1" and model_key("/a/B.GGUF") == "B"


def test_stored_values_are_checked_one_by_one() -> None:
    stored = Settings().remember().to_json()
    stored["per_model"]["bad"] = {"n_ctx": 12, "temperature": 0.5, "chat_template": "alpaca", "other": 1}
    stored["per_model"]["worse"] = "not a table"
    stored["chat_template"] = "chatml"
    s = Settings.from_json(stored)
    assert s.chat_template == "chatml"
    assert s.per_model["bad"] == {"temperature": 0.5}
    assert "worse" not in s.per_model
    assert any("n_ctx = 12 of model bad" in p for p in s.problems)
    assert any("chat_template = 'alpaca' of model bad" in p for p in s.problems)
    assert any("settings of model 'worse' are not readable" in p for p in s.problems)
    assert Settings.from_json({"chat_template": "alpaca"}).chat_template is None
