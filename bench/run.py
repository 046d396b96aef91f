"""The implicit_ncf benchmark suite: every row is a figure and its ratio to a baseline measured
in the same run, and every fast path is checked against a naive one.

Run ``python -m bench`` (all rows, full sizes) or ``python -m bench --quick`` (about three minutes
on a 2-core laptop: subsets, fractions of epochs, naive loops on subsamples extrapolated
linearly). ``make bench`` runs the quick mode. See docs/performance.md.

Exit status: 1 when a fast path disagrees with its naive reference (:class:`BenchmarkError`),
also when a target is missed with ``--strict``; otherwise 0.

This module is the entry point only; the rows live by family:

- ``train``, ``quality``, ``als`` (time to the tuned ALS's validation HR@10; full mode or
  ``--only als``, needs ``implicit``), ``scale``: :mod:`bench.training` (the ML-20M-shaped worker:
  :mod:`bench.scale`); ``scale`` also runs :mod:`bench.scale_eval` (evaluation and
  recommendation at the ML-20M shape against the ML-1M shape)
- ``sampling``: :mod:`bench.sampling`
- ``recommend``, ``eval``: :mod:`bench.scoring`
- ``realtime``: :mod:`bench.realtime` (a new user's fold-in + top-10; ``similar_items``)
- what they share (modes, rows, the estimator, formatting, the table): :mod:`bench.common`
- the naive reference paths and their checks: :mod:`bench.naive`
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from bench.common import (
    FULL,
    PARAMS,
    QUICK,
    Context,
    Mode,
    Row,
    load_data,
    machine,
    render,
)
from bench.naive import BenchmarkError
from bench.realtime import realtime_row, similar_row
from bench.sampling import sampling_rows
from bench.scale_eval import scale_eval_rows
from bench.scoring import eval_full_row, eval_sampled_row, recommend_row, scoring_model
from bench.training import als_quality_row, quality_row, scale_rows, train_row

# the names callers (tests/test_bench_smoke.py) reach as ``run.X``
__all__ = [
    "ROWS",
    "Context",
    "Mode",
    "Row",
    "als_quality_row",
    "eval_full_row",
    "eval_sampled_row",
    "main",
    "quality_row",
    "realtime_row",
    "recommend_row",
    "render",
    "sampling_rows",
    "scale_eval_rows",
    "scoring_model",
    "similar_row",
    "train_row",
]

ROWS = ("train", "sampling", "recommend", "eval", "realtime", "quality", "als", "scale")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="the ~3 minute mode (make bench)")
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {ROWS}")
    parser.add_argument("--skip", default="", help="comma-separated rows to leave out")
    parser.add_argument("--models", default="gmf,mlp,neumf", help="models of the training rows")
    parser.add_argument("--data", type=Path, default=None, help="folder of the NCF ML-1M files")
    parser.add_argument("--synthetic", action="store_true", help="ML-1M-shaped synthetic data")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: 1 with --quick, torch's default otherwise)",
    )
    parser.add_argument(
        "--params",
        type=json.loads,
        default={},
        help="NeuralCF parameters for every row, as JSON, e.g. '{\"batch_size\": 8192}'",
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    import torch

    mode = QUICK if args.quick else FULL
    if args.threads is None and args.quick:
        # on a small shared machine one intra-op thread per process keeps the ratios stable
        # (two threads on two busy cores wait for each other in every op)
        args.threads = 1
    if args.threads:
        torch.set_num_threads(args.threads)
    wanted = set(args.only.split(",")) if args.only else set(ROWS)
    wanted -= set(filter(None, args.skip.split(",")))
    if args.only is None and not mode.quality:
        wanted.discard("quality")
    if args.only is None and mode is QUICK:  # a whole default fit: the full mode only
        wanted.discard("als")
    unknown = wanted - set(ROWS)
    if unknown:
        parser.error(f"unknown rows {sorted(unknown)}; choose from {ROWS}")

    PARAMS.clear()
    PARAMS.update(args.params)
    started = time.perf_counter()
    train, test, candidates, real = load_data(args.data, synthetic=args.synthetic)
    ctx = Context(mode, train, test, candidates, real)
    print(f"implicit_ncf benchmark ({mode.name} mode)", flush=True)
    print(f"machine: {machine(args.threads)}", flush=True)
    if PARAMS:
        print(f"NeuralCF parameters: {json.dumps(PARAMS)}", flush=True)
    source = "NCF ML-1M split (load_ncf_ml1m)" if real else "synthetic ML-1M-shaped data"
    print(f"data: {source}: {len(train):,} training pairs, {len(test):,} test users", flush=True)
    if "quality" in wanted and not real and args.only is None:
        # the 0.70 threshold is ML-1M's; popularity-only synthetic data never reaches it
        wanted.discard("quality")
        print("time to quality: skipped (needs the real ML-1M split)", flush=True)
    if "als" in wanted and not real:
        wanted.discard("als")
        print("time to ALS quality: skipped (needs the real ML-1M split)", flush=True)

    steps: list[tuple[str, Callable[[], Row | list[Row]]]] = []
    if "train" in wanted:
        for model in args.models.split(","):
            steps.append((f"train {model}", lambda m=model: train_row(ctx, m)))
    if "sampling" in wanted:
        steps.append(("sampling", lambda: sampling_rows(ctx)))
    if "recommend" in wanted:
        steps.append(("recommend", lambda: recommend_row(ctx)))
    if "eval" in wanted:
        steps.append(("evaluate sampled", lambda: eval_sampled_row(ctx)))
        steps.append(("evaluate full", lambda: eval_full_row(ctx)))
    if "realtime" in wanted:
        steps.append(("realtime", lambda: realtime_row(ctx)))
        steps.append(("similar items", lambda: similar_row(ctx)))
    if "quality" in wanted:
        steps.append(("time to quality", lambda: quality_row(ctx)))
    if "als" in wanted:
        steps.append(("time to ALS quality", lambda: als_quality_row(ctx)))
    if "scale" in wanted:
        steps.append(("scale", lambda: scale_rows(ctx, args.threads)))
        steps.append(("scale evaluate", lambda: scale_eval_rows(ctx, args.threads)))

    failures: list[str] = []
    for name, step in steps:
        start = time.perf_counter()
        print(f"running {name} ...", file=sys.stderr, flush=True)
        try:
            result = step()
        except BenchmarkError as exc:
            failures.append(f"{name}: {exc}")
            result = Row(name, "WRONG", "-", None, "correct", False, notes=[str(exc)])
        elapsed = time.perf_counter() - start
        for row in result if isinstance(result, list) else [result]:
            row.seconds = elapsed
            ctx.rows.append(row)
        print(f"  {name}: {elapsed:.1f}s", file=sys.stderr, flush=True)

    total = time.perf_counter() - started
    print()
    print(render(ctx.rows))
    print(f"\ntotal {total:.0f} s ({mode.name} mode)")
    if args.json is not None:
        payload = {
            "mode": mode.name,
            "machine": machine(args.threads),
            "real_data": real,
            "total_s": total,
            "rows": [asdict(r) for r in ctx.rows],
            "results": {k: v for k, v in ctx.results.items() if k != "model"},
        }
        args.json.write_text(json.dumps(payload, indent=1, default=float))
    missed = [r.name for r in ctx.rows if r.ok is False]
    if failures:
        print("\nWRONG RESULTS (fast path disagrees with the naive path):", file=sys.stderr)
        for failure in failures:
            print(f"  {failure}", file=sys.stderr)
        return 1
    if missed and args.strict:
        print(f"\nmissed targets: {missed}", file=sys.stderr)
        return 1
    return 0
