"""NeuralCF on one CUDA GPU: training throughput at ML-20M scale, ML-1M time to quality and
full-catalogue recommend. ``python -m bench.gpu [--quick] [--out DIR] [--ncf-data DIR]``

1. The device and the torch version.
2. NeuMF (no pretraining) training samples/s on the ML-20M-shaped set of :mod:`bench.synthetic`
   (the whole 138,493 x 26,744 catalogue; 5M interactions with ``--quick``, else 20M) at batch
   sizes 65,536 and 262,144 (learning rate scaled by the root of the batch size), in TF32 and
   ``bf16-mixed``, with ``optimizer="adam"`` and ``"lazy_adam"``: the steady rate after the first
   trainer batch (:func:`bench.common.stop_after`, as :mod:`bench.scale`; the GPU synchronised at
   the first and last timed batch), beside NVIDIA's 22.6M samples/s on one A100 in TF32.
3. ML-1M with the defaults, ``NeuralCF(accelerator="gpu")``, on the NCF split (``--ncf-data``,
   default ``../shared/data/ncf-ml-1m``; else :func:`bench.synthetic.ml1m_like`): fit seconds and
   HR@10 / NDCG@10 on the 99 negatives. Run last: it is the part the time budget cuts.
4. Recommend throughput, users/s, of the model of part 2 over the whole catalogue:
   ``est.recommend(users, k=10)`` as the library runs it (its fitted network lives on the CPU;
   ``--quick`` times a subset of users), and the same top 10 (seen items excluded) on the GPU
   from a copy of the network.

Each part runs in its own ``try``; a failure is recorded and the rest still runs. Everything goes
to ``DIR/gpu.json`` and a markdown table is printed at the end. ``--quick`` takes about five
minutes on an H200; settings and parts stop early (and say so) past ``--budget-s``. Without CUDA
it exits with status 2; ``--cpu-smoke`` runs every part on the CPU at tiny sizes (the tests).
"""

from __future__ import annotations

import argparse
import copy
import itertools
import json
import logging
import math
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

# NeuralCF's defaults on the NCF ML-1M split on a CPU (docs/results.md): HR@10, NDCG@10, fit s
CPU_ML1M = (0.7070, 0.4356, 227.0)
DEFAULT_BATCH, DEFAULT_LR = 2048, 2e-3  # NeuralCF's defaults, the base of the scaled rates


@dataclass(frozen=True)
class Sizes:
    """Sizes of one run."""

    name: str
    shape: dict[str, int]  # the ML-20M-shaped synthetic set
    batch_sizes: tuple[int, ...]
    timed_examples: int  # examples timed per throughput setting (after the first batch)
    recommend_users: int | None  # users the library's recommend is timed on (None: all)
    budget_s: float  # later settings and parts stop early past this many seconds
    accelerator: str = "gpu"
    ml1m_params: dict[str, Any] = field(default_factory=dict)  # on top of NeuralCF's defaults


BATCHES = (65_536, 262_144)
_ML20M = {"n_users": 138_493, "n_items": 26_744}  # bench.synthetic.ML20M_SHAPE's catalogue
FULL = Sizes("full", {**_ML20M, "n_interactions": 20_000_000}, BATCHES, 40_000_000, 32_768, 1500)
QUICK = Sizes("quick", {**_ML20M, "n_interactions": 5_000_000}, BATCHES, 8_000_000, 8_192, 300)
_TINY_NET = {"n_epochs": 1, "n_factors": 4, "hidden_layers": (8, 4), "pretrain": False}
_TINY = {"n_users": 600, "n_items": 300, "n_interactions": 30_000}
SMOKE = Sizes("cpu-smoke", _TINY, (512, 2048), 100_000, 100, 120, "cpu", _TINY_NET)


def _say(text: str) -> None:
    print(f"[bench.gpu] {text}", flush=True)


class _Clock:
    """Seconds since the run started, and whether the budget is spent."""

    def __init__(self, budget_s: float) -> None:
        self.start, self.budget_s = time.perf_counter(), budget_s

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def over(self) -> bool:
        return self.elapsed() > self.budget_s


def _callbacks(n_batches: int | None, clock: _Clock, gpu: bool) -> list[Any]:
    """[sync, deadline]: synchronise the GPU at the first and the ``n_batches``-th trainer batch
    (so that the wall times :func:`bench.common.stop_after` records are the device's), and stop
    the fit once ``clock`` is over its budget."""
    import pytorch_lightning as pl
    import torch

    class Sync(pl.Callback):
        def __init__(self) -> None:
            self.count = 0

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, i: int):
            self.count += 1
            if gpu and self.count in (1, n_batches):
                torch.cuda.synchronize()

    class Deadline(pl.Callback):
        def __init__(self) -> None:
            self.hit = False

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, i: int):
            if clock.over():
                self.hit = trainer.should_stop = True

    return [Sync(), Deadline()]


def throughput(frame: Any, sizes: Sizes, clock: _Clock, gpu: bool, rows: list[dict]) -> Any:
    """Part 2: one row per (batch size, precision, optimizer) appended to ``rows``; returns the
    first fitted estimator."""
    import torch

    from bench.common import NVIDIA_A100_TF32, make_estimator, quiet, stop_after
    from implicit_ncf import estimator

    kept = None
    from implicit_ncf import NeuralCF

    # each positive and its negatives (NeuralCF's default n_negatives unless --params sets it)
    epoch_examples = len(frame) * (1 + int(NeuralCF().n_negatives))
    # the BCE step of the NCF paper (examples: positives and their negatives), as the A100
    # reference was measured
    common = {
        "pretrain": False,
        "n_epochs": 1,
        "accelerator": sizes.accelerator,
        "devices": 1,
        "loss": "bce",
    }
    for batch_size, precision, optimizer in itertools.product(
        sizes.batch_sizes, ("tf32", "bf16-mixed"), ("adam", "lazy_adam")
    ):
        learning_rate = DEFAULT_LR * math.sqrt(batch_size / DEFAULT_BATCH)
        # a trainer batch holds several optimizer steps when batch_size < _BATCH_EXAMPLES
        per_batch = batch_size * max(1, getattr(estimator, "_BATCH_EXAMPLES", 1) // batch_size)
        n_batches = min(
            1 + max(4, math.ceil(sizes.timed_examples / per_batch)),
            math.ceil(epoch_examples / per_batch),
        )
        name = f"bs={batch_size} {precision} {optimizer}"
        row: dict[str, Any] = {"batch_size": batch_size, "precision": precision}
        row.update(optimizer=optimizer, learning_rate=learning_rate)
        rows.append(row)
        if clock.over():
            row["skipped"] = f"time budget ({clock.budget_s:.0f} s) spent"
            continue
        try:
            if gpu:
                torch.cuda.reset_peak_memory_stats()
            stopper = stop_after(n_batches)
            sync, deadline = _callbacks(n_batches, clock, gpu)
            extra = {"precision": "bf16-mixed"} if precision == "bf16-mixed" else {}
            est = make_estimator(
                [sync, stopper, deadline],
                **common,
                batch_size=batch_size,
                learning_rate=learning_rate,
                optimizer=optimizer,
                trainer_kwargs=extra,
            )
            with quiet():
                est.fit(frame)
            rate = stopper.steady_rate()
            row.update(samples_per_s=rate, ratio_a100_tf32=rate / NVIDIA_A100_TF32)
            row.update(batches_timed=len(stopper.ends) - 1, examples_timed=sum(stopper.sizes[1:]))
            row.update(fit_s=est.fit_time_, cut_by_budget=deadline.hit)
            if gpu:
                row["peak_gpu_gb"] = torch.cuda.max_memory_allocated() / 1e9
            kept = est if kept is None else kept
            _say(
                f"train {name}: {rate / 1e6:.2f}M samples/s "
                f"({rate / NVIDIA_A100_TF32:.2f}x A100 TF32), fit {est.fit_time_:.1f} s"
            )
        except Exception as exc:  # recorded; the other settings still run
            row.update(error=f"{type(exc).__name__}: {exc}", traceback=traceback.format_exc(6))
            _say(f"train {name}: FAILED {row['error']}")
    return kept


def ml1m(sizes: Sizes, clock: _Clock, gpu: bool, ncf_data: Path | None) -> dict[str, Any]:
    """Part 3: NeuralCF's defaults fitted on the (NCF) ML-1M split; fit seconds and metrics."""
    from bench.common import load_data, quiet
    from implicit_ncf import NeuralCF

    if sizes.name == "cpu-smoke":  # a tiny look-alike: the shape of the data, not its size
        from bench.synthetic import interactions
        from implicit_ncf.sampling import sample_candidates
        from implicit_ncf.splits import leave_one_out

        split = leave_one_out(interactions(300, 200, 3000), time_col=None, random_state=0)
        train, test = split.train, split.test
        candidates = sample_candidates(train, test, n_negatives=99, random_state=0)
        real = False
    else:
        train, test, candidates, real = load_data(ncf_data, synthetic=False)
    source = "NCF ML-1M split" if real else "synthetic ML-1M look-alike (no real structure)"
    _say(f"ML-1M: {source}, {len(train):,} training pairs, {len(test):,} test users; fitting")
    _, deadline = _callbacks(None, clock, gpu)
    est = NeuralCF(
        random_state=0,
        accelerator=sizes.accelerator,
        devices=1,
        trainer_kwargs={"callbacks": [deadline]},
        **sizes.ml1m_params,
    )
    with quiet():
        est.fit(train)
        metrics = est.evaluate(test, k=10, candidates=candidates)
    out = {"data": source, "real": bool(real), "fit_s": est.fit_time_, "epochs": len(est.history_)}
    out.update({m: metrics[m] for m in ("hr@10", "ndcg@10")})
    out["label"] = f"NeuralCF {'defaults' if not sizes.ml1m_params else sizes.ml1m_params}"
    out.update(cut_by_budget=deadline.hit, params={**sizes.ml1m_params, "random_state": 0})
    _say(
        f"ML-1M: fit {out['fit_s']:.1f} s, HR@10 {out['hr@10']:.4f}, NDCG@10 "
        f"{out['ndcg@10']:.4f}" + (" (cut by the time budget)" if deadline.hit else "")
    )
    return out


def recommend(est: Any, sizes: Sizes, gpu: bool) -> dict[str, Any]:
    """Part 4: users/s of the library's ``recommend(users, k=10)``, and of the same top 10
    (seen items excluded) from a GPU copy of the network."""
    import torch

    from bench.common import quiet

    n_users = est.n_users_
    m = n_users if sizes.recommend_users is None else min(n_users, sizes.recommend_users)
    idx = np.unique(np.linspace(0, n_users - 1, m).astype(np.int64))
    users = est.user_encoder_.inverse_transform(idx)
    with quiet():
        est.recommend(users[:64], k=10)  # warm-up
        start = time.perf_counter()
        top = est.recommend(users, k=10)
        seconds = time.perf_counter() - start
    out: dict[str, Any] = {"n_users": n_users, "n_items": est.n_items_, "timed_users": len(idx)}
    out.update(library_users_per_s=len(idx) / seconds, library_s=seconds, library_rows=len(top))
    out.update(library_all_users_s_estimate=n_users * seconds / len(idx))
    out["torch_threads"] = torch.get_num_threads()
    _say(
        f"recommend (library, CPU scoring): {out['library_users_per_s']:,.0f} users/s over "
        f"{len(idx):,} users; all {n_users:,}: about {out['library_all_users_s_estimate']:.0f} s"
    )
    if not gpu:
        return out
    net = copy.deepcopy(est.network_).to("cuda").eval()
    seen = est.seen_
    block = 4096

    def top_all() -> None:
        for s in range(0, n_users, block):
            rows = seen[s : s + block].tocoo()
            with torch.inference_mode():
                scores = net.score_all(torch.arange(s, min(s + block, n_users), device="cuda"))
                r = torch.from_numpy(rows.row.astype(np.int64)).cuda()
                c = torch.from_numpy(rows.col.astype(np.int64)).cuda()
                scores[r, c] = -torch.inf
                scores.topk(10, dim=1).indices.cpu()

    top_all()  # warm-up (and the kernels' first launches)
    torch.cuda.synchronize()
    start = time.perf_counter()
    top_all()
    torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    out.update(gpu_users_per_s=n_users / seconds, gpu_all_users_s=seconds, gpu_block=block)
    _say(
        f"recommend (GPU copy of the network): {n_users / seconds:,.0f} users/s, all users "
        f"{seconds:.2f} s"
    )
    return out


def _table(result: dict[str, Any]) -> str:
    from bench.common import NVIDIA_A100_TF32

    lines = ["| part | setting | figure | beside |", "|---|---|---|---|"]
    for r in result.get("throughput", []):
        setting = f"NeuMF batch {r['batch_size']:,}, {r['precision']}, {r['optimizer']}"
        if "samples_per_s" in r:
            figure = f"{r['samples_per_s'] / 1e6:.2f}M samples/s"
            beside = f"{r['ratio_a100_tf32']:.2f}x NVIDIA A100 TF32 ({NVIDIA_A100_TF32 / 1e6}M/s)"
        else:
            figure, beside = r.get("error", r.get("skipped", "-"))[:80], ""
        lines.append(f"| train, 20M-shaped | {setting} | {figure} | {beside} |")
    q = result.get("ml1m", {})
    if "fit_s" in q:
        figure = f"fit {q['fit_s']:.1f} s, HR@10 {q['hr@10']:.4f}, NDCG@10 {q['ndcg@10']:.4f}"
        beside = f"CPU (docs/results.md): {CPU_ML1M[2]:.0f} s, {CPU_ML1M[0]} / {CPU_ML1M[1]}"
        beside = beside if q["real"] else "(CPU reference is for the NCF split only)"
        cut = " (cut by budget)" if q["cut_by_budget"] else ""
        lines.append(f"| ML-1M{cut} | {q['label']}, {q['data']} | {figure} | {beside} |")
    elif q:
        lines.append(f"| ML-1M | | {q.get('error', '-')[:80]} | |")
    rec = result.get("recommend", {})
    if "library_users_per_s" in rec:
        lines.append(
            f"| recommend k=10, library (CPU scoring) | {rec['timed_users']:,} of "
            f"{rec['n_users']:,} users, {rec['torch_threads']} threads | "
            f"{rec['library_users_per_s']:,.0f} users/s | all users about "
            f"{rec['library_all_users_s_estimate']:.0f} s |"
        )
    if "gpu_users_per_s" in rec:
        lines.append(
            f"| recommend k=10, GPU copy of the network | all {rec['n_users']:,} users | "
            f"{rec['gpu_users_per_s']:,.0f} users/s | all users "
            f"{rec['gpu_all_users_s']:.2f} s |"
        )
    elif "error" in rec:
        lines.append(f"| recommend k=10 | | {rec['error'][:80]} | |")
    return "\n".join(lines)


def _guarded(fn: Any) -> tuple[Any, dict[str, str] | None]:
    """``(fn(), None)``, or ``(None, the error)``: one part's failure must not lose the others."""
    try:
        return fn(), None
    except Exception as exc:
        _say(f"FAILED {type(exc).__name__}: {exc}")
        return None, {"error": f"{type(exc).__name__}: {exc}", "traceback": traceback.format_exc(8)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="5M interactions, about 5 minutes")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny sizes on the CPU (tests)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="writes DIR/gpu.json")
    parser.add_argument("--ncf-data", type=Path, default=None, help="the ncf-ml-1m folder")
    parser.add_argument("--budget-s", type=float, default=None, help="stop later parts after")
    args = parser.parse_args(argv)

    import torch

    gpu = not args.cpu_smoke
    if gpu and not torch.cuda.is_available():
        print(
            "bench.gpu needs a CUDA GPU: torch.cuda.is_available() is False (torch "
            f"{torch.__version__}, CUDA build {torch.version.cuda}). Run it on a machine with "
            "an NVIDIA GPU and a CUDA build of torch, or pass --cpu-smoke for a tiny CPU run "
            "of the same code.",
            file=sys.stderr,
        )
        return 2
    # the process-wide settings this run changes, put back at the end (the tests call main)
    loggers = ("pytorch_lightning", "lightning.pytorch", "lightning_fabric")
    levels = {name: logging.getLogger(name).level for name in loggers}
    precision = torch.get_float32_matmul_precision()
    try:
        return _run(args, torch, gpu, loggers)
    finally:
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)
        torch.set_float32_matmul_precision(precision)


def _run(args: argparse.Namespace, torch: Any, gpu: bool, loggers: tuple[str, ...]) -> int:
    """The body of :func:`main` once the arguments and the device are checked."""
    sizes = SMOKE if args.cpu_smoke else QUICK if args.quick else FULL
    clock = _Clock(args.budget_s if args.budget_s is not None else sizes.budget_s)
    for name in loggers:
        logging.getLogger(name).setLevel(logging.WARNING)  # no per-fit device banners
    try:  # the legacy flags; torch >= 2.9 refuses a mix of them and the new per-backend API
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        tf32 = f"allow_tf32 (matmul precision {torch.get_float32_matmul_precision()!r})"
    except RuntimeError:
        torch.backends.cuda.matmul.fp32_precision = "tf32"
        tf32 = "torch.backends.cuda.matmul.fp32_precision='tf32'"
    device = torch.cuda.get_device_name(0) if gpu else "cpu (--cpu-smoke)"
    result: dict[str, Any] = {
        "device": device,
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "mode": sizes.name,
        "sizes": asdict(sizes),
        "tf32": tf32,
    }
    _say(
        f"device {device}, torch {torch.__version__} (CUDA {torch.version.cuda}), mode "
        f"{sizes.name}, budget {clock.budget_s:.0f} s"
    )

    def train_part() -> Any:
        from bench.synthetic import interactions

        start = time.perf_counter()
        frame = interactions(**sizes.shape)
        result["generate_s"] = time.perf_counter() - start
        _say(f"generated {len(frame):,} interactions in {result['generate_s']:.1f} s")
        result["throughput"] = []
        return throughput(frame, sizes, clock, gpu, result["throughput"])

    est, error = _guarded(train_part)
    if error is not None:  # the rows measured so far are in result["throughput"]
        result["throughput_error"] = error
    if est is not None:  # recommend before ML-1M: the ML-1M fit is the part the budget cuts
        rec, error = _guarded(lambda: recommend(est, sizes, gpu))
        result["recommend"] = rec or error
    if clock.over():
        result["ml1m"] = {"error": f"skipped: time budget ({clock.budget_s:.0f} s) spent"}
    else:
        q, error = _guarded(lambda: ml1m(sizes, clock, gpu, args.ncf_data))
        result["ml1m"] = q or error
    result["total_s"] = clock.elapsed()
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "gpu.json"
    path.write_text(json.dumps(result, indent=1, default=str))
    print(f"\n{_table(result)}\n\n(wrote {path}; total {result['total_s']:.0f} s)", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
