"""Model runtimes: the llama.cpp chat backend, the embedder and the model registry.

Never imports PySide6; only models/llama.py imports llama_cpp and only
models/embedder.py imports sentence_transformers.
"""
