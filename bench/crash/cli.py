"""``glassmind bench crash`` (and ``python -m bench.crash``): parse the options, run, report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from bench.crash.harness import run
from bench.crash.report import print_report
from bench.crash.schedule import OPS
from bench.crash.state import Progress
from bench.crash.worker import worker


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "worker":
        return worker(argv[1:])
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    p = argparse.ArgumentParser(
        prog="glassmind bench crash", description="kill -9 at random moments; check the promises"
    )
    p.add_argument("--trials", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    p.add_argument("--data-dir", help="use (and keep) this data dir instead of a temporary one")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir even when all is well")
    p.add_argument("--ops", help=f"only these operations, comma-separated ({','.join(OPS)})")
    p.add_argument(
        "--exec", action="store_true",
        help="start each child as a new interpreter (default: fork it from a server with the imports done)",
    )
    args = p.parse_args(argv)
    if args.trials < 1:
        p.error("--trials must be at least 1")
    ops = [o.strip() for o in args.ops.split(",") if o.strip()] if args.ops else None
    unknown = sorted(set(ops or []) - set(OPS))
    if unknown:
        p.error(f"unknown operation(s) {', '.join(unknown)}: choose from {', '.join(OPS)}")
    progress: Progress = (
        (lambda s: print(s, file=sys.stderr, flush=True)) if args.json else (lambda s: print(s, flush=True))
    )
    result = run(
        args.trials, args.seed, args.data_dir, progress, keep=True if args.keep else None, ops=ops,
        forked=not args.exec,
    )
    if args.json:
        print(json.dumps(result, default=str))
    else:
        print_report(result)
    return 0 if result["ok"] else 1
