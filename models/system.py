"""Facts about the machine that decide whether a model fits: memory, GPU memory, free disk space."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import psutil

from models.errors import ModelFileError


def _virtual_memory() -> tuple[int, int] | None:
    """(total, available) physical memory from psutil, on every platform; None where it cannot tell."""
    try:
        mem = psutil.virtual_memory()
    except (OSError, RuntimeError, AttributeError):
        return None
    total, available = int(mem.total), int(mem.available)
    return (total, available) if total > 0 else None


def total_memory_bytes() -> int | None:
    """The machine's physical memory, or None where unknown."""
    mem = _virtual_memory()
    return mem[0] if mem else None


def available_memory_bytes() -> int | None:
    """Memory the system can still give to a new model (reclaimable cache counted), or None where unknown."""
    mem = _virtual_memory()
    return mem[1] if mem else None


@dataclass(frozen=True)
class GPUMemory:
    name: str
    total_bytes: int
    free_bytes: int


def gpu_memory(timeout_s: float = 3.0) -> GPUMemory | None:
    """The first NVIDIA GPU's memory from nvidia-smi; None when there is no nvidia-smi or it fails.

    Other GPUs (Metal, Vulkan) report unknown: the verdict then judges by system memory.
    """
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    try:
        out = subprocess.run(
            [exe, "--query-gpu=name,memory.total,memory.free", "--format=csv,noheader,nounits"],
            capture_output=True, text=True, timeout=timeout_s, check=True,
        ).stdout
        name, total, free = [p.strip() for p in out.strip().splitlines()[0].split(",")]
        return GPUMemory(name, int(float(total)) * 2**20, int(float(free)) * 2**20)
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return None


@dataclass(frozen=True)
class MachineMemory:
    """What the fit verdict compares a model against."""

    total_bytes: int | None
    available_bytes: int | None
    gpu: GPUMemory | None = None

    def describe(self) -> str:
        def gib(n: int | None) -> str:
            return "unknown" if n is None else f"{n / 2**30:.1f} GiB"

        ram = f"memory {gib(self.total_bytes)} ({gib(self.available_bytes)} free)"
        if self.gpu is None:
            return f"This machine: {ram}; GPU memory unknown or no NVIDIA GPU."
        return (
            f"This machine: {ram}; GPU {self.gpu.name} {gib(self.gpu.total_bytes)} ({gib(self.gpu.free_bytes)} free)."
        )


def machine_memory(*, with_gpu: bool = True) -> MachineMemory:
    return MachineMemory(total_memory_bytes(), available_memory_bytes(), gpu_memory() if with_gpu else None)


def free_disk_bytes(path: str | Path) -> int | None:
    """Free space on the file system that holds ``path`` (or its nearest existing parent)."""
    p = Path(path).expanduser().absolute()
    while not p.exists() and p != p.parent:
        p = p.parent
    try:
        return shutil.disk_usage(p).free
    except OSError:
        return None


def package_dir(package: str, missing: str) -> Path:
    """The folder of an installed package, found without importing it; ``missing`` says what to do if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFileError(missing)
    return Path(list(spec.submodule_search_locations)[0])


def default_threads() -> tuple[int, int]:
    """(n_threads, n_threads_batch) when the user sets none: decode on the physical cores, prompt
    batches on every logical one -- but a single thread of each on two cores or fewer.

    llama.cpp's threads spin while they wait for each other, so a thread on an SMT sibling or on a
    core another program is using stalls the rest: a one-token decode gains nothing from SMT, a prompt
    batch does. On 2 cores shared with busy processes, one thread decoded 81 tok/s where two gave 14,
    and read prompts at 150 tok/s where two gave 50 (bench/RESULTS.md, 2026-11-23).
    The embedder's torch threads follow the same rule.
    """
    logical = os.cpu_count() or 1
    # psutil answers None where it cannot tell the physical cores: then assume no SMT.
    physical = psutil.cpu_count(logical=False) or logical
    if physical <= 2:
        return 1, 1
    return physical, max(physical, logical)
