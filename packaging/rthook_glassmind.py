"""PyInstaller runtime hook: runs in the frozen Glassmind app before any of its code.

The bundle is fully offline: the chat model and the embedder ship inside it, so the
Hugging Face libraries must never try the network or spawn tokenizer threads per fork.
"""

import os

for _key, _value in (
    ("HF_HUB_OFFLINE", "1"),
    ("TRANSFORMERS_OFFLINE", "1"),
    ("HF_HUB_DISABLE_TELEMETRY", "1"),
    ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
    ("TOKENIZERS_PARALLELISM", "false"),
):
    os.environ.setdefault(_key, _value)
