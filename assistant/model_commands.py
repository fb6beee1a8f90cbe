"""`glassmind models`: the registry, the catalogue with fit verdicts, downloads and per-model settings.

    glassmind models [--json] [--add PATH]        the model registry (details from each GGUF header)
    glassmind models catalog [--json] [--ctx N]   curated models, each with a "fits this machine" verdict
    glassmind models download NAME|URL [--sha256 HEX]
                                                   download, verify and register (exit 0 only then)
    glassmind models set NAME [--ctx N] [--gpu-layers N] [--temperature T] [--template FORMAT]
                                                   a model's own settings, applied whenever it is chosen
    glassmind models add-server URL [--name N] ... / remove-server NAME
                                                   a model served from another machine (server_commands.py)
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from dataclasses import replace
from typing import Any, TextIO

from assistant import server_commands
from assistant.settings import PER_MODEL, model_key
from models.catalog import CatalogEntry, installed_state, load_catalog
from models.download import DownloadProgress, download_model, source_for
from models.errors import InvalidInputError
from models.registry import ModelEntry
from models.servers import ServerRegistry
from models.system import MachineMemory, machine_memory
from models.templates import FALLBACKS

TEMPLATE_CHOICES = [*FALLBACKS, "model"]  # "model": the GGUF's own template again


def add_parser(sub: Any, number: Any) -> None:
    """The `models` subcommand and its own subcommands (``number`` builds a checked int type)."""
    m = sub.add_parser("models", help="models: the registry, the catalogue, downloads, per-model settings")
    m.add_argument("--json", action="store_true")
    m.add_argument("--add", metavar="PATH", help="add a GGUF file to the registry")
    ops = m.add_subparsers(dest="models_op", metavar="{catalog,download,set,add-server,remove-server}")
    cat = ops.add_parser("catalog", help="curated models to download, with a fit verdict for this machine")
    cat.add_argument("--json", action="store_true")
    cat.add_argument("--ctx", type=number("a context size from 256 to 1,048,576 tokens", 256, 1_048_576),
                     metavar="N", help="judge the fit at this context size (default: each model's, at most 8,192)")
    dl = ops.add_parser("download", help="download a catalogue model, or any https URL of a .gguf file")
    dl.add_argument("source", metavar="NAME|URL")
    dl.add_argument("--sha256", metavar="HEX", help="the file's sha256 (for a URL; catalogue models carry theirs)")
    st = ops.add_parser("set", help="a model's own context size, GPU layers, temperature and chat format")
    st.add_argument("name", metavar="NAME", help="a name from `glassmind models`")
    st.add_argument("--ctx", type=number("a context size from 256 to 1,048,576 tokens", 256, 1_048_576), metavar="N")
    st.add_argument(
        "--gpu-layers", type=number("a number of layers from -1 (all) to 100,000", -1, 100_000), metavar="N"
    )
    st.add_argument("--temperature", type=float, metavar="T")
    st.add_argument("--template", choices=TEMPLATE_CHOICES, help="a chat format for a model without a usable template")
    server_commands.add_parsers(ops, number)


def run(app: Any, args: argparse.Namespace) -> int:
    op = getattr(args, "models_op", None)
    if op == "catalog":
        return _catalog(app, args)
    if op == "download":
        return _download(app, args)
    if op == "set":
        return _set(app, args)
    if op in ("add-server", "remove-server"):
        return server_commands.run(app, args)
    return _registry(app, args)


# -- the registry ----------------------------------------------------------------------------


def _registry(app: Any, args: argparse.Namespace) -> int:
    from models.llama import build_backend

    if args.add:
        entry = app.registry.add(args.add)
        print(f"Added {entry.name} ({entry.path}).")
        if not entry.has_chat_template:
            print(
                f"It has no chat template: choose a chat format with `glassmind models set {entry.name} "
                "--template chatml` (or llama3, gemma).",
                file=sys.stderr,
            )
        return 0
    entries = app.registry.entries()
    servers = ServerRegistry(app.data_dir).entries()
    backend = build_backend()
    if args.json:
        own = app.settings.per_model
        json.dump(
            [{**e.to_json(), "backend": backend, "settings": own.get(model_key(e.path), {})} for e in entries]
            + [{**s.to_json(), "source": "server", "location": s.location} for s in servers],
            sys.stdout, indent=2,
        )
        print()
        return 0
    for e in entries:
        mark = "*" if e.default else " "
        tmpl = "chat template" if e.has_chat_template else "NO chat template"
        line = (
            f"{mark} {e.name:<36} {e.architecture:<10} {e.parameters / 1e6:>8.0f}M {e.quantization:<7} "
            f"ctx {e.context_length:>7,}  {e.size_bytes / 2**20:>8.1f} MiB  {tmpl}"
        )
        print(line + (f"  [{e.error}]" if e.error else ""))
        print(f"  {e.path}")
        own = {k: v for k, v in app.settings.per_model.get(model_key(e.path), {}).items() if v is not None}
        if own:
            print("  settings: " + ", ".join(f"{k} {v}" for k, v in own.items()))
    for s in servers:
        counts = "exact counts" if s.kind == "llama-server" else "estimated counts"
        print(f"  {s.name:<36} served on {s.location} ({s.kind}, {counts})")
        print(f"  {s.url}" + (f"  model {s.model_id}" if s.model_id and s.model_id != s.name else ""))
    print(f"llama.cpp backend: {backend}")
    return 0


# -- the catalogue ---------------------------------------------------------------------------


def _catalog(app: Any, args: argparse.Namespace) -> int:
    from models.llama import gpu_offload_supported

    entries = load_catalog()
    memory = machine_memory()
    gpu = gpu_offload_supported()
    rows = [_catalog_row(e, memory, gpu, args.ctx, app.registry.models_dir) for e in entries]
    if args.json:
        json.dump({"machine": _machine_json(memory, gpu), "models": rows}, sys.stdout, indent=2)
        print()
        return 0
    print(f"{'NAME':<24} {'PARAMS':>6} {'QUANT':<7} {'SIZE':>9} {'CONTEXT':>8}  {'LICENCE':<28} FIT")
    for e, row in zip(entries, rows, strict=True):
        state = {"installed": "  [installed]", "partial": "  [partly downloaded]"}.get(row["state"], "")
        print(
            f"{e.name:<24} {e.parameters_b:>5.1f}B {e.quantization:<7} {e.size_bytes / 2**30:>5.2f} GiB "
            f"{e.context_length:>8,}  {e.licence[:28]:<28} {row['fit']['verdict']}{state}"
        )
        print(f"    {row['fit']['sentence']}")
    print(memory.describe(), f"llama.cpp {'can' if gpu else 'cannot'} use a GPU.")
    print("Download one with: glassmind models download NAME")
    return 0


def _catalog_row(
    e: CatalogEntry, memory: MachineMemory, gpu: bool, n_ctx: int | None, models_dir: Any
) -> dict[str, Any]:
    fit = e.fit(memory, n_ctx=n_ctx, gpu_offload=gpu)
    state, on_disk = installed_state(e, models_dir)
    return {
        **e.to_json(),
        "state": state,
        "bytes_on_disk": on_disk,
        "fit": {
            "verdict": fit.verdict, "sentence": fit.describe(), "n_ctx": fit.n_ctx, "need_bytes": fit.need_bytes,
            "weights_bytes": fit.weights_bytes, "kv_bytes": fit.kv_bytes, "available_bytes": fit.available_bytes,
            "where": fit.where,
        },
    }


def _machine_json(memory: MachineMemory, gpu: bool) -> dict[str, Any]:
    return {
        "total_bytes": memory.total_bytes,
        "available_bytes": memory.available_bytes,
        "gpu": None if memory.gpu is None else memory.gpu.__dict__,
        "gpu_offload": gpu,
    }


# -- downloads -------------------------------------------------------------------------------


class _ProgressLine:
    """Progress on stderr: one line rewritten in place on a terminal, a line every few seconds otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", lambda: False)())
        self._last = 0.0
        self._width = 0

    def __call__(self, p: DownloadProgress) -> None:
        now = time.monotonic()
        if not self.tty and now - self._last < 5 and p.stage == "downloading":
            return
        self._last = now
        text = p.describe()
        if self.tty:
            self.stream.write("\r" + text.ljust(self._width))
            self._width = len(text)
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def end(self) -> None:
        if self.tty and self._width:
            self.stream.write("\n")
            self.stream.flush()


def _download(app: Any, args: argparse.Namespace) -> int:
    catalog = load_catalog()
    source = source_for(args.source, catalog)  # a wrong name or URL is refused before anything starts
    what = source.name if isinstance(source, CatalogEntry) else source
    line = _ProgressLine(sys.stderr)
    print(f"Downloading {what} into {app.registry.models_dir} (Ctrl-C stops; it resumes later).", file=sys.stderr)
    try:
        entry, result = download_model(
            app.registry, args.source, sha256=args.sha256, catalog=catalog, cancel=threading.Event(), progress=line
        )
    except KeyboardInterrupt:
        line.end()
        print("glassmind: download interrupted; run the same command again to resume it.", file=sys.stderr)
        return 130
    finally:
        line.end()
    if result.already_present:
        print(f"{entry.file_name} was already in {app.registry.models_dir}.", file=sys.stderr)
    how = "sha256 verified" if result.checksum_verified else (
        f"GGUF structure checked; no checksum was given, its sha256 is {result.sha256}"
    )
    print(f"Installed {entry.name} ({how}): {entry.details()}.")
    print(f"Use it with: glassmind chat --model {entry.name}   (or choose it in Settings)")
    return 0


# -- per-model settings -------------------------------------------------------------------------


def _set(app: Any, args: argparse.Namespace) -> int:
    entry: ModelEntry = app.registry.resolve(args.name)
    key = model_key(entry.path)
    settings = app.settings.remember()  # the model in use keeps what it has now
    own: dict[str, Any] = {
        "n_ctx": None,
        "gpu_layers": None,
        "temperature": settings.temperature,
        "chat_template": None,
    }
    own.update(settings.per_model.get(key, {}))
    if args.ctx is not None:
        if entry.context_length and args.ctx > entry.context_length:
            raise InvalidInputError(
                f"{entry.name} was trained for {entry.context_length:,} tokens of context: choose that or less."
            )
        own["n_ctx"] = args.ctx
    if args.gpu_layers is not None:
        own["gpu_layers"] = None if args.gpu_layers < 0 else args.gpu_layers
    if args.temperature is not None:
        if not 0.0 <= args.temperature <= 2.0:
            raise InvalidInputError("The temperature must be between 0 and 2.")
        own["temperature"] = float(args.temperature)
    if args.template is not None:
        own["chat_template"] = None if args.template == "model" else args.template
    updated = replace(settings, per_model={**settings.per_model, key: own})
    if model_key(settings.model) == key:  # the model in use: its values are the current settings too
        updated = replace(updated, **{k: own[k] for k in PER_MODEL})
    app.save_settings(updated)
    shown = ", ".join(f"{k} {'default' if v is None else v}" for k, v in own.items())
    print(f"Settings of {entry.name}: {shown}.")
    return 0
