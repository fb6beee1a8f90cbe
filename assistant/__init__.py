"""Headless core of Glassmind: store, memory, retrieval, context window, turns, CLI.

Never imports PySide6 (tests/test_layering.py enforces it).
"""
