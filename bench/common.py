"""What several row families of the benchmark share: the run's sizes (:class:`Mode`), a row of
the table (:class:`Row`), the data and results passed between rows (:class:`Context`), the
estimator every row builds (:func:`make_estimator`) and the callback that ends its fit early
(:func:`stop_after`), timing and formatting helpers, the data, the table (:func:`render`) and the
machine it ran on (:func:`machine`).

The row families import from here, and :mod:`bench.run` imports them: nothing here imports a row
family.
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
NCF_DATA = REPO.parent / "shared" / "data" / "ncf-ml-1m"
ML1M_RATED = REPO.parent / "shared" / "data" / "ml-1m" / "ratings.users0001-2999.dat.gz"
NVIDIA_A100_TF32 = 22.6e6  # samples/s, NVIDIA DeepLearningExamples NCF, ML-20M, 1x A100 TF32
MEMORY_TARGET_GB = 4.0


@dataclass
class Mode:
    """Sizes of one benchmark run."""

    name: str
    train_positives: int | None  # positives of the training-throughput fits (None: all)
    train_epochs: int  # epochs per throughput fit; the first one is a warm-up
    tutorial_positives: int  # positives the per-sample Python loop samples for (extrapolated)
    rec_user_stride: int  # naive recommend on every n-th user (extrapolated)
    eval_users: int | None  # users of the naive evaluation loops (None: all; extrapolated)
    model_batches: int | None  # trainer batches of the model the scoring rows use (None: epoch)
    scale_batches: int | None  # trainer batches timed at ML-20M scale (None: one whole epoch)
    quality: bool  # run the time-to-quality row
    quality_epochs: int = 20  # epochs the time-to-quality fit may take before it gives up
    realtime_users: int = 200  # new users the real-time row folds in, one call each


# quick mode: time to quality stops after 2 epochs (NeuMF reaches 0.70 in its first on ML-1M,
# and 20 epochs would not fit in 2 minutes); on synthetic data main() leaves the row out
QUICK = Mode("quick", 60_000, 4, 10_000, 10, 600, 2, 2, True, quality_epochs=2, realtime_users=50)
# quick mode: faster models get more positives so that every timed epoch lasts about a second
# (an epoch of a fraction of a second is mostly the trainer's fixed per-epoch cost and noise)
QUICK_SCALE = {"gmf": 3.0, "mf": 3.0, "mlp": 1.5, "neumf": 1.0}
FULL = Mode("full", None, 3, 20_000, 1, None, None, None, True)


@dataclass
class Row:
    """One line of the table."""

    name: str
    figure: str
    baseline: str
    ratio: float | None
    target: str = ""
    ok: bool | None = None
    notes: list[str] = field(default_factory=list)
    style: str = "f"  # how the ratio prints: "f" 0.95, "x" 12.3x, "%" 2.1%
    seconds: float = 0.0

    def ratio_text(self) -> str:
        if self.ratio is None:
            return "-"
        if self.style == "x":
            return f"{self.ratio:,.1f}x" if self.ratio < 1000 else f"{self.ratio:,.0f}x"
        if self.style == "%":
            return f"{100 * self.ratio:.1f}%"
        return f"{self.ratio:.2f}"


@dataclass
class Context:
    """Data and results shared between rows."""

    mode: Mode
    train: pd.DataFrame
    test: pd.DataFrame
    candidates: pd.DataFrame
    real_data: bool
    verbose: bool = True
    results: dict[str, Any] = field(default_factory=dict)
    rows: list[Row] = field(default_factory=list)


# NeuralCF parameters from --params, applied to every estimator the rows build
PARAMS: dict[str, Any] = {}


def make_estimator(callbacks: list[Any], **row: Any) -> Any:
    """NeuralCF with the row's settings, then --params on top (their trainer_kwargs are merged
    with the row's callbacks). The rows run on the CPU unless --params says otherwise."""
    from implicit_ncf import NeuralCF

    params = {"accelerator": "cpu", "random_state": 0, **row, **PARAMS}
    extra = dict(params.pop("trainer_kwargs", None) or {})
    extra["callbacks"] = [*callbacks, *(extra.get("callbacks") or [])]
    return NeuralCF(**params, trainer_kwargs=extra)


def device_of(est: Any) -> str:
    import torch

    gpu = str(est.accelerator) in ("gpu", "cuda") or (
        est.accelerator == "auto" and torch.cuda.is_available()
    )
    return "cuda" if gpu and torch.cuda.is_available() else "cpu"


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence library warnings (duplicates, unknown ids) during timed sections."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def best_of(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Shortest wall time of ``repeat`` calls, and the last result."""
    best, result = math.inf, None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def fmt_rate(value: float) -> str:
    if value >= 1e6:
        return f"{value / 1e6:.2f}M/s"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k/s"
    return f"{value:.0f}/s"


def fmt_s(seconds: float) -> str:
    return f"{seconds:.3g} s" if seconds < 100 else f"{seconds:.0f} s"


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def load_data(data: Path | None, *, synthetic: bool) -> tuple[pd.DataFrame, ...]:
    """(train, test, candidates, real): the NCF ML-1M split when present, else a look-alike."""
    folder = data or NCF_DATA
    if not synthetic and folder.is_dir():
        from implicit_ncf.datasets import load_ncf_ml1m

        train, test, candidates = load_ncf_ml1m(folder)
        return train, test, candidates, True
    from bench.synthetic import ml1m_like

    return (*ml1m_like(), False)


def load_ml1m_rated(path: Path = ML1M_RATED) -> pd.DataFrame:
    """The full GroupLens ML-1M rating lines of users 1-2999 (``../shared/data/ml-1m``, the
    only part of ML-1M here with ratings and timestamps: 487,650 rows, every rating of those
    users): columns ``user``, ``item``, ``rating``, ``timestamp``, in file order."""
    frame = pd.read_csv(
        path,
        sep=":",
        header=None,
        usecols=[0, 2, 4, 6],
        dtype={0: "int64", 2: "int64", 4: "float64", 6: "int64"},
    )
    frame.columns = ["user", "item", "rating", "timestamp"]
    return frame


# ------------------------------------------------------------------------------------------------
# the callback that ends a fit early (the scoring rows and the ML-20M-shaped worker)
# ------------------------------------------------------------------------------------------------


def stop_after(n_batches: int) -> Any:
    """A callback that ends fit after ``n_batches`` trainer batches (a fraction of an epoch)."""
    import pytorch_lightning as pl

    class StopAfter(pl.Callback):
        def __init__(self) -> None:
            self.ends: list[float] = []  # end time of each batch
            self.sizes: list[int] = []  # examples of each batch

        def on_train_batch_end(self, trainer: Any, module: Any, outputs: Any, batch: Any, i: int):
            self.ends.append(time.perf_counter())
            self.sizes.append(len(batch[0]))
            if len(self.ends) >= n_batches:
                trainer.should_stop = True

        def steady_rate(self) -> float:
            """Examples/s after the first batch (which also pays the epoch's set-up)."""
            if len(self.ends) < 2:
                return math.nan
            return sum(self.sizes[1:]) / (self.ends[-1] - self.ends[0])

    return StopAfter()


# ------------------------------------------------------------------------------------------------
# the table, and the machine it ran on
# ------------------------------------------------------------------------------------------------


def render(rows: list[Row]) -> str:
    head = ("benchmark", "figure", "baseline (same run)", "ratio", "target", "")
    body = [
        (
            r.name,
            r.figure,
            r.baseline,
            r.ratio_text(),
            r.target,
            "" if r.ok is None else ("ok" if r.ok else "MISSED"),
        )
        for r in rows
    ]
    widths = [max(len(str(x[c])) for x in [head, *body]) for c in range(len(head))]

    def line(cells: tuple[str, ...]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    out = [line(head), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out += [line(b) for b in body]
    notes = [f"- **{r.name}**: " + "; ".join(r.notes) for r in rows if r.notes]
    return "\n".join(out) + "\n\n" + "\n".join(notes)


def machine(threads: int | None) -> str:
    import torch

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    return (
        f"{cpu}, {os.cpu_count()} CPUs, torch {torch.__version__} with "
        f"{torch.get_num_threads()} threads, numpy {np.__version__}, pandas {pd.__version__}, "
        f"Python {platform.python_version()}"
    )
