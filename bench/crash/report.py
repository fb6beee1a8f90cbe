"""The figures of a run (the dict ``run`` returns, ``--json`` prints) and their printout."""

from __future__ import annotations

import json
import statistics
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.crash.schedule import OPS
from bench.crash.state import FAILURE_KINDS

if TYPE_CHECKING:
    from bench.crash.harness import Harness


def figures(
    h: Harness, log: list[dict[str, Any]], *, seed: int, aborted: str | None, elapsed: float, home: Path
) -> dict[str, Any]:
    """What the run found, per failure kind, operation and kill, with every trial's choices."""
    counts = Counter(p["kind"] for p in h.state.problems.values())
    per_op: dict[str, dict[str, int]] = {
        op: {"trials": 0, "mid_operation": 0, "after_finished": 0, "not_killed": 0} for op in OPS
    }
    for info in log:
        per_op[info["op"]]["trials"] += 1
        if info.get("outcome") in ("mid_operation", "after_finished", "not_killed"):
            per_op[info["op"]][info["outcome"]] += 1
    kills = Counter(info.get("outcome", "other") for info in log)
    failures = sorted(h.state.problems.values(), key=lambda p: (p["trial"], p["kind"]))
    result: dict[str, Any] = {
        "trials": len(log),
        **{k: counts.get(k, 0) for k in FAILURE_KINDS},
        "ok": not failures and aborted is None,
        "ops": per_op,
        "kills": {
            "mid_operation": kills["mid_operation"],
            "after_finished": kills["after_finished"],
            "not_killed": kills["not_killed"],
        },
        "kill_phases": dict(sorted(h.kill_phases.items())),
        "elapsed_s": round(elapsed, 1),
        "seconds_per_trial": round(elapsed / max(1, len(log)), 2),
        "check_s_mean": round(statistics.mean(h.check_times), 3) if h.check_times else None,
        "typical_s": {op: round(h.typical(op), 2) for op in OPS} if h.prior else {},
        "secrets": {
            "created": len([s for s in h.state.secrets if s.status != "dropped"]),
            "erased": h.extras["secrets_erased"],
        },
        "extras": dict(h.extras),
        "op_errors": h.op_errors,
        "notices": h.state.notices,
        "seed": seed,
        "aborted": aborted,
        "data_dir": str(home),
        "failures": failures,
        "log": log,
    }
    return result


def print_report(r: dict[str, Any], out: Any = sys.stdout) -> None:
    print(
        f"{r['trials']} trials in {r['elapsed_s']:.0f}s ({r['seconds_per_trial']:.1f}s per trial, "
        f"check {r['check_s_mean']}s)",
        file=out,
    )
    for k in FAILURE_KINDS:
        print(f"  {k:<20} {r[k]}", file=out)
    print(f"  kills: {r['kills']}", file=out)
    for op, c in r["ops"].items():
        print(
            f"    {op:<12} {c['trials']:>4} trials: {c['mid_operation']} killed mid-operation, "
            f"{c['after_finished']} after it finished, {c['not_killed']} not killed",
            file=out,
        )
    print(f"  worker kill phases: {r['kill_phases']}", file=out)
    print(f"  secrets: {r['secrets']}  {r['extras']}", file=out)
    if r["op_errors"]:
        print(f"  operation errors: {len(r['op_errors'])}", file=out)
    for n in r["notices"]:
        print(f"  notice: {n}", file=out)
    for f in r["failures"]:
        print(f"  FAILURE {json.dumps(f, default=str)}", file=out)
    if r["aborted"]:
        print(f"  ABORTED: {r['aborted']}", file=out)
    if r["data_dir"]:
        print(f"  data dir kept: {r['data_dir']}", file=out)
    if r.get("work_dir"):
        print(f"  work dir kept (exports, evidence/): {r['work_dir']}", file=out)
    print("OK: every promise held." if r["ok"] else "FAILED.", file=out)
