"""Tiny GGUF chat models written with the `gguf` package: a byte-level BPE vocabulary with the
control tokens of ChatML, Llama 3 and Gemma, random weights (2 layers, 64 wide, ~0.4 MB), and
whatever chat template a test needs (or none). llama.cpp loads them like any model: they tokenize,
render and even generate (nonsense), so the token accounting can be checked per template."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

gguf = pytest.importorskip("gguf")

CONTROL = [
    "<|endoftext|>", "<|im_start|>", "<|im_end|>",  # ChatML
    "<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>",  # Llama 3
    "<bos>", "<eos>", "<start_of_turn>", "<end_of_turn>",  # Gemma
]
MERGES = ["h e", "l l", "he ll", "hell o"]


def _byte_tokens() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order."""
    printable = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    chars = {b: b for b in printable}
    extra = 0
    for b in range(256):
        if b not in chars:
            chars[b] = 256 + extra
            extra += 1
    return [chr(chars[b]) for b in range(256)]


def write_tiny_gguf(
    path: Path,
    *,
    chat_template: str | None,
    bos: str = "<|endoftext|>",
    eos: str = "<|im_end|>",
    add_bos: bool = False,
    context_length: int = 4096,
    n_embd: int = 64,
    n_head: int = 4,
    n_kv_head: int = 2,
    n_layer: int = 2,
    n_ff: int = 128,
) -> Path:
    w = gguf.GGUFWriter(str(path), "llama")
    w.add_name("tiny chat")
    w.add_context_length(context_length)
    w.add_block_count(n_layer)
    w.add_embedding_length(n_embd)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_kv_head)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_rope_dimension_count(n_embd // n_head)
    w.add_file_type(0)  # F32
    tokens = _byte_tokens() + ["he", "ll", "hell", "hello"]
    types = [gguf.TokenType.NORMAL] * len(tokens)
    tokens += CONTROL
    types += [gguf.TokenType.CONTROL] * len(CONTROL)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre("default")
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(MERGES)
    w.add_bos_token_id(tokens.index(bos))
    w.add_eos_token_id(tokens.index(eos))
    w.add_add_bos_token(add_bos)
    if chat_template is not None:
        w.add_chat_template(chat_template)
    rng = np.random.default_rng(0)
    head_dim = n_embd // n_head

    def tensor(name: str, *shape: int, ones: bool = False) -> None:
        data = np.ones(shape, np.float32) if ones else rng.standard_normal(shape).astype(np.float32) * 0.02
        w.add_tensor(name, data)

    tensor("token_embd.weight", len(tokens), n_embd)
    tensor("output_norm.weight", n_embd, ones=True)
    tensor("output.weight", len(tokens), n_embd)
    for i in range(n_layer):
        p = f"blk.{i}."
        tensor(p + "attn_norm.weight", n_embd, ones=True)
        tensor(p + "attn_q.weight", n_embd, n_embd)
        tensor(p + "attn_k.weight", head_dim * n_kv_head, n_embd)
        tensor(p + "attn_v.weight", head_dim * n_kv_head, n_embd)
        tensor(p + "attn_output.weight", n_embd, n_embd)
        tensor(p + "ffn_norm.weight", n_embd, ones=True)
        tensor(p + "ffn_gate.weight", n_ff, n_embd)
        tensor(p + "ffn_up.weight", n_ff, n_embd)
        tensor(p + "ffn_down.weight", n_embd, n_ff)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path
