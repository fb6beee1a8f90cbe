"""The curated catalogue (models/catalog.json), the machine's memory, and the fit verdict."""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

import psutil
import pytest

from models import system
from models.catalog import (
    CatalogError,
    find,
    installed_state,
    judge,
    kv_cache_bytes,
    load_catalog,
)
from models.errors import NotFoundError
from models.system import GPUMemory, MachineMemory

GIB = 2**30


def test_the_shipped_catalogue() -> None:
    entries = load_catalog()
    sizes = sorted(e.parameters_b for e in entries)
    # Several sizes: about 0.5B, 1.5B, 3B and 7-8B.
    for low, high in ((0.4, 0.6), (1.4, 1.8), (2.9, 3.3), (7.0, 8.5)):
        assert any(low <= s <= high for s in sizes), (low, high)
    for e in entries:
        assert e.url.startswith("https://huggingface.co/") and "/resolve/" in e.url and e.file_name.endswith(".gguf")
        assert e.quantization == "Q4_K_M" and e.quantization.lower() in e.file_name.lower()
        # Q4_K_M stores 4.5 to 6 bits per weight; small models with big vocabularies keep their
        # embeddings larger (Qwen's own 0.5B file: 8 bits per weight overall).
        bits = e.size_bytes * 8 / (e.parameters_b * 1e9)
        assert 4.4 < bits < 8.5, (e.name, bits)
        assert e.licence and e.licence_url.startswith("https://") and e.description
        assert e.context_length >= 8192 and e.head_dim in (64, 128)
    assert len({e.sha256 for e in entries}) == len(entries)


def test_kv_cache_and_fit_verdicts() -> None:
    # Llama 3.1 8B at 8,192 tokens: 32 layers x 8 KV heads x 128, keys and values in f16 = 1 GiB.
    assert kv_cache_bytes(32, 8192, 8, 128) == GIB
    ram = MachineMemory(total_bytes=16 * GIB, available_bytes=8 * GIB)
    assert judge(2 * GIB, GIB // 2, 8192, ram, gpu_offload=False).verdict == "fits"
    assert judge(6 * GIB, GIB // 2, 8192, ram, gpu_offload=False).verdict == "tight"
    too_big = judge(9 * GIB, GIB, 8192, ram, gpu_offload=False)
    assert too_big.verdict == "too big" and "only 8.0 GiB free memory" in too_big.describe()
    unknown = judge(GIB, 0, 8192, MachineMemory(None, None), gpu_offload=False)
    assert unknown.verdict == "unknown" and "unknown" in unknown.describe()
    # With a GPU build and room on the GPU, the model runs there; without room, memory decides.
    gpu = MachineMemory(16 * GIB, 2 * GIB, GPUMemory("Test GPU", 24 * GIB, 20 * GIB))
    on_gpu = judge(8 * GIB, GIB, 8192, gpu, gpu_offload=True)
    assert (on_gpu.verdict, on_gpu.where) == ("fits", "GPU")
    assert judge(8 * GIB, GIB, 8192, gpu, gpu_offload=False).verdict == "too big"
    assert judge(30 * GIB, GIB, 8192, gpu, gpu_offload=True).where == "memory"


def test_entry_verdict_uses_the_chosen_context() -> None:
    llama8b = find(load_catalog(), "llama-3.1-8b-instruct")
    machine = MachineMemory(16 * GIB, 7 * GIB)
    short, long = llama8b.fit(machine), llama8b.fit(machine, n_ctx=131072)
    assert short.n_ctx == 8192 and short.kv_bytes == GIB and short.verdict == "tight"
    assert long.kv_bytes == 16 * GIB and long.verdict == "too big"
    assert llama8b.fit(machine, n_ctx=10**9).n_ctx == llama8b.context_length  # capped at the trained size


def test_find_by_name_or_file_name() -> None:
    entries = load_catalog()
    assert find(entries, "QWEN2.5-1.5B-Instruct").name == "qwen2.5-1.5b-instruct"
    assert find(entries, "qwen2.5-1.5b-instruct-q4_k_m.gguf").name == "qwen2.5-1.5b-instruct"
    with pytest.raises(NotFoundError, match="no model called 'gpt-5' .* https URL"):
        find(entries, "gpt-5")


@pytest.mark.parametrize(
    "change, words",
    [
        ({"sha256": "not-a-hash"}, "no valid sha256"),
        ({"url": "http://example.com/m.gguf"}, "https URL"),
        ({"url": "https://example.com/m.bin"}, "does not point to a .gguf"),
        ({"size_bytes": 0}, "size or shape of zero"),
        ({"n_layers": "32"}, "no valid 'n_layers'"),
    ],
)
def test_a_bad_catalogue_entry_is_named(tmp_path: Path, change: dict[str, Any], words: str) -> None:
    good = asdict(load_catalog()[0])
    path = tmp_path / "catalog.json"
    path.write_text(json.dumps({"models": [{**good, **change}]}))
    with pytest.raises(CatalogError, match=words):
        load_catalog(path)


def test_catalogue_file_problems(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(CatalogError, match="Could not read"):
        load_catalog(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(CatalogError, match="not valid JSON"):
        load_catalog(tmp_path / "bad.json")
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"models": [asdict(load_catalog()[0])]}))
    monkeypatch.setenv("GLASSMIND_CATALOG", str(mine))
    assert [e.name for e in load_catalog()] == ["qwen2.5-0.5b-instruct"]


def test_installed_state(tmp_path: Path) -> None:
    entry = load_catalog()[0]
    assert installed_state(entry, tmp_path) == ("absent", 0)
    (tmp_path / (entry.file_name + ".part")).write_bytes(b"GGUF1234")
    assert installed_state(entry, tmp_path) == ("partial", 8)
    (tmp_path / entry.file_name).write_bytes(b"GGUF")
    assert installed_state(entry, tmp_path)[0] == "installed"


def test_machine_memory_on_any_platform_or_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    total, available = system.total_memory_bytes(), system.available_memory_bytes()
    assert total is not None and available is not None and 0 < available <= total
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():  # Linux: the kernel's own figure
        kib = next(int(line.split()[1]) for line in meminfo.read_text().splitlines() if line.startswith("MemTotal:"))
        assert total == kib * 1024

    def broken() -> None:
        raise OSError("no memory figures here")

    monkeypatch.setattr(psutil, "virtual_memory", broken)
    assert system.total_memory_bytes() is None and system.available_memory_bytes() is None


def test_gpu_memory_from_nvidia_smi_or_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert system.gpu_memory() is None  # no nvidia-smi: unknown
    fake = tmp_path / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'NVIDIA H100 80GB HBM3, 81559, 80000'\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    gpu = system.gpu_memory()
    assert gpu == GPUMemory("NVIDIA H100 80GB HBM3", 81559 * 2**20, 80000 * 2**20)
    fake.write_text("#!/bin/sh\nexit 9\n")
    assert system.gpu_memory() is None


def test_free_disk_space_of_a_folder_not_made_yet(tmp_path: Path) -> None:
    free = system.free_disk_bytes(tmp_path / "not" / "yet")
    assert free is not None and free > 0
    assert os.path.exists(tmp_path) and not (tmp_path / "not").exists()
