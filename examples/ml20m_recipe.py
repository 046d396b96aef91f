"""The reference NCF tutorial's protocol on MovieLens-20M, with the library's own pieces.

``python examples/ml20m_recipe.py --data path/to/ml-20m [--user-fraction 0.3] [--epochs N]``

1. Read GroupLens's ``ratings.csv`` (``userId,movieId,rating,timestamp``); every rating is an
   implicit positive.
2. Sample ``--user-fraction`` of the users (30% by default, seeded by ``--seed``) and keep all of
   their interactions; ``--max-interactions`` then keeps whole sampled users, in random order,
   up to that many interactions (a quick run).
3. Hold out each user's latest interaction by timestamp as the test item
   (:func:`implicit_ncf.splits.leave_one_out`).
4. Draw 99 unseen items per test user (:func:`implicit_ncf.sampling.sample_candidates`, the NCF
   protocol) and fit :class:`implicit_ncf.NeuralCF` with the tutorial's ``n_negatives=4``
   negatives per positive (the library's default is 8; ``--params`` overrides) on the rest.
5. Report HR@10 and NDCG@10 of each test item among its 100 candidates
   (``NeuralCF.evaluate(test, candidates=...)``) with 95% bootstrap intervals over test users.

``--synthetic`` runs the same steps on the ML-20M-shaped synthetic set of ``bench/synthetic.py``
(138,493 users, 26,744 items, 20M interactions; with ``--max-interactions`` only as many are
generated as the cap needs after the user sample, about 3 per user at least). It has no timestamps,
so a random interaction per user is held out, and no real structure, so its figures are timing
only.

ML-20M is not shipped (its licence forbids redistribution): download
https://files.grouplens.org/datasets/movielens/ml-20m.zip (190 MB) and unzip it, or call
``implicit_ncf.datasets.fetch_movielens("20m")``.

Examples
--------
``python examples/ml20m_recipe.py --data ~/data/ml-20m --epochs 1 --out results/ml20m.json``

``python examples/ml20m_recipe.py --synthetic --max-interactions 500000 --epochs 1
--params '{"pretrain": false}'``
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from implicit_ncf import NeuralCF  # noqa: E402
from implicit_ncf.evaluation import UnknownIdWarning  # noqa: E402
from implicit_ncf.sampling import sample_candidates  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402

ML20M_URL = "https://files.grouplens.org/datasets/movielens/ml-20m.zip"
K = 10
N_CANDIDATE_NEGATIVES = 99  # the NCF protocol: each test item among 99 sampled unseen items
SYNTHETIC_NOTE = (
    "synthetic ML-20M-shaped data (bench/synthetic.py): no timestamps, so a random interaction "
    "per user is held out, and no real structure (only Zipf-like item popularity), so the "
    "figures are timing only"
)


class DataNotFound(Exception):
    """The --data path holds no MovieLens-20M ratings (the message says how to get them)."""


@dataclass(frozen=True)
class Prepared:
    """The sampled interactions, their leave-one-out split and the evaluation candidates."""

    frame: pd.DataFrame  # the sampled users' interactions (after --max-interactions)
    train: pd.DataFrame
    test: pd.DataFrame
    candidates: pd.DataFrame
    n_users_total: int  # users before sampling
    n_users_sampled: int  # users drawn by --user-fraction (before --max-interactions)


def _not_found(path: Path, why: str) -> DataNotFound:
    return DataNotFound(
        f"--data {path}: {why}. This example needs GroupLens's MovieLens-20M: download "
        f"{ML20M_URL} (190 MB), unzip it and pass --data path/to/ml-20m (the folder) or "
        "path/to/ml-20m/ratings.csv; or fetch it with "
        "implicit_ncf.datasets.fetch_movielens('20m'). Use --synthetic for a timing run on "
        "ML-20M-shaped synthetic data."
    )


def load_ratings(path: Path) -> pd.DataFrame:
    """MovieLens-20M ratings from a GroupLens folder or a ``ratings.csv`` file.

    Parameters
    ----------
    path : Path
        The unpacked ``ml-20m`` folder, a folder holding it, or the ratings file itself
        (``userId,movieId,rating,timestamp`` with a header; gzipped is fine).

    Returns
    -------
    pandas.DataFrame
        Columns ``user``, ``item``, ``rating``, ``timestamp``.

    Raises
    ------
    DataNotFound
        If ``path`` does not exist or holds no ratings file; the message names the path and how
        to get ML-20M.
    """
    from implicit_ncf.datasets import load_movielens

    path = Path(path).expanduser()
    if not path.exists():
        raise _not_found(path, "no such file or folder")
    if path.is_file():  # read this very file (a folder beside it may hold another copy)
        try:
            frame = pd.read_csv(path, usecols=["userId", "movieId", "rating", "timestamp"])
        except ValueError as exc:
            raise _not_found(path, f"not a GroupLens ratings.csv ({exc})") from exc
        return frame.rename(columns={"userId": "user", "movieId": "item"})
    try:
        return load_movielens("20m", data_home=path, download=False)
    except FileNotFoundError as exc:
        raise _not_found(path, "no ratings.csv (or ml-20m/ratings.csv) in this folder") from exc


def synthetic_ratings(
    user_fraction: float, max_interactions: int | None, seed: int
) -> pd.DataFrame:
    """The ML-20M-shaped synthetic set (``bench.synthetic.interactions(**ML20M_SHAPE)``), with
    only as many interactions as ``max_interactions`` needs after sampling ``user_fraction``
    (``3 * n_users`` at least)."""
    from bench.synthetic import ML20M_SHAPE, interactions

    shape = dict(ML20M_SHAPE)
    if max_interactions is not None:
        wanted = math.ceil(1.05 * max_interactions / user_fraction)  # a margin for the sample
        # about 3 per user at least, so that nearly all 138,493 users keep a test item and
        # training items
        wanted = max(wanted, 3 * shape["n_users"])
        shape["n_interactions"] = min(shape["n_interactions"], wanted)
    return interactions(**shape, seed=seed)


def sample_users(frame: pd.DataFrame, fraction: float, rng: np.random.Generator) -> pd.DataFrame:
    """All interactions of ``round(fraction * n_users)`` users drawn without replacement."""
    users = np.sort(frame["user"].unique())
    n = max(1, round(fraction * len(users)))
    chosen = rng.choice(users, size=n, replace=False)
    return frame[frame["user"].isin(chosen)]


def cap_interactions(frame: pd.DataFrame, cap: int, rng: np.random.Generator) -> pd.DataFrame:
    """Whole users, in random order, while their interactions add up to at most ``cap`` (at
    least one user), so that every kept user keeps its full history."""
    if len(frame) <= cap:
        return frame
    counts = frame.groupby("user").size()
    order = counts.index.to_numpy()[rng.permutation(len(counts))]
    within = counts.loc[order].cumsum().to_numpy() <= cap
    within[0] = True
    return frame[frame["user"].isin(order[within])]


def prepare(
    frame: pd.DataFrame,
    *,
    user_fraction: float,
    seed: int,
    max_interactions: int | None = None,
    time_col: str | None = "timestamp",
) -> Prepared:
    """Sample users, cap, hold out each user's latest (or, without ``time_col``, a random)
    interaction and draw 99 unseen candidates per test user; all seeded by ``seed``."""
    rng = np.random.default_rng(seed)
    n_users_total = int(frame["user"].nunique())
    sampled = sample_users(frame, user_fraction, rng)
    n_users_sampled = int(sampled["user"].nunique())
    if max_interactions is not None:
        sampled = cap_interactions(sampled, max_interactions, rng)
    sampled = sampled.reset_index(drop=True)
    split = leave_one_out(sampled, time_col=time_col, random_state=seed)
    candidates = sample_candidates(
        split.train, split.test, n_negatives=N_CANDIDATE_NEGATIVES, random_state=seed
    )
    return Prepared(sampled, split.train, split.test, candidates, n_users_total, n_users_sampled)


def latest_fraction(frame: pd.DataFrame, test: pd.DataFrame) -> float:
    """Share of test rows at their user's latest timestamp in ``frame`` (1.0 for this split)."""
    latest = frame.groupby("user")["timestamp"].max()
    return float((test["timestamp"].to_numpy() == latest.loc[test["user"]].to_numpy()).mean())


def intervals(model: NeuralCF, prepared: Prepared) -> dict[str, tuple[float, float]]:
    """95% percentile bootstrap intervals over test users of HR@10 and NDCG@10: ``evaluate``
    offers none with ``candidates=``, so its per-target rows are resampled by user."""
    from implicit_ncf.evaluation import _bootstrap_interval

    rows = model.evaluate(prepared.test, k=K, candidates=prepared.candidates, per_user=True)
    users = pd.factorize(rows["user"], sort=True)[0].astype(np.int64)
    return {
        metric: _bootstrap_interval(rows[metric].to_numpy(dtype=np.float64), users)
        for metric in (f"hr@{K}", f"ndcg@{K}")
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--data", type=Path, default=None, help="the ml-20m folder, or its ratings.csv"
    )
    source.add_argument(
        "--synthetic", action="store_true", help="ML-20M-shaped synthetic data (timing only)"
    )
    parser.add_argument("--user-fraction", type=float, default=0.3, help="share of users kept")
    parser.add_argument("--epochs", type=int, default=None, help="NeuralCF n_epochs")
    parser.add_argument(
        "--max-interactions", type=int, default=None, help="keep whole users up to this many"
    )
    parser.add_argument(
        "--params", type=json.loads, default={}, help="extra NeuralCF parameters as JSON"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--seed", type=int, default=0, help="user sample, split, model")
    parser.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    return parser


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 0.0 < args.user_fraction <= 1.0:
        return _error(f"--user-fraction must be in (0, 1]; got {args.user_fraction}.")
    if args.max_interactions is not None and args.max_interactions < 2:
        return _error(f"--max-interactions must be at least 2; got {args.max_interactions}.")
    if args.data is None and not args.synthetic:
        return _error(
            f"pass --data path/to/ml-20m (download {ML20M_URL} and unzip it) or --synthetic."
        )
    if not isinstance(args.params, dict):
        return _error(f"--params must be a JSON object of NeuralCF parameters; got {args.params}.")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    try:
        if args.synthetic:
            frame = synthetic_ratings(args.user_fraction, args.max_interactions, args.seed)
        else:
            frame = load_ratings(args.data)
    except DataNotFound as exc:
        return _error(str(exc))
    seconds = {"load": time.perf_counter() - start}
    source = "synthetic" if args.synthetic else str(args.data)
    time_col = None if args.synthetic else "timestamp"
    print(
        f"{source}: {len(frame):,} interactions, {frame['user'].nunique():,} users, "
        f"{frame['item'].nunique():,} items (load {seconds['load']:.1f} s)",
        flush=True,
    )
    if args.synthetic:
        print(f"NOTE: {SYNTHETIC_NOTE}", flush=True)

    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SplitWarning: repeated pairs (none in ML-20M)
        prepared = prepare(
            frame,
            user_fraction=args.user_fraction,
            seed=args.seed,
            max_interactions=args.max_interactions,
            time_col=time_col,
        )
    del frame
    seconds["split"] = time.perf_counter() - start
    train, test = prepared.train, prepared.test
    sizes = {
        "n_users_total": prepared.n_users_total,
        "n_users_sampled": prepared.n_users_sampled,
        "n_users": int(prepared.frame["user"].nunique()),
        "n_items": int(prepared.frame["item"].nunique()),
        "n_interactions": len(prepared.frame),
        "n_train": len(train),
        "n_test": len(test),
        "n_test_users": int(test["user"].nunique()),
        "n_candidates": len(prepared.candidates),
    }
    held_out = (
        "a random interaction per user (no timestamps)"
        if time_col is None
        else "each user's latest interaction by timestamp"
    )
    print(
        f"sampled {sizes['n_users_sampled']:,} of {sizes['n_users_total']:,} users "
        f"({args.user_fraction:.0%}), kept {sizes['n_users']:,} users with "
        f"{sizes['n_interactions']:,} interactions over {sizes['n_items']:,} items; held out "
        f"{held_out}: {sizes['n_train']:,} train, {sizes['n_test']:,} test rows, "
        f"{sizes['n_candidates']:,} candidates (split {seconds['split']:.1f} s)",
        flush=True,
    )

    params: dict[str, Any] = {"random_state": args.seed, "n_negatives": 4}  # the tutorial's
    if args.epochs is not None:
        params["n_epochs"] = args.epochs
    params.update(args.params)
    model = NeuralCF(**params)
    print(f"fitting NeuralCF({params}) ...", flush=True)
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicates (none in ML-20M), Lightning's notes
        model.fit(train[["user", "item"]])
    seconds["fit"] = time.perf_counter() - start
    epochs = len(model.history_)
    print(f"fit {seconds['fit']:.1f} s ({epochs} epochs over all stages)", flush=True)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnknownIdWarning)  # counted in the metrics, printed
        start = time.perf_counter()
        metrics = model.evaluate(test, k=K, candidates=prepared.candidates)
        seconds["evaluate"] = time.perf_counter() - start
        start = time.perf_counter()
        cis = intervals(model, prepared)
        seconds["intervals"] = time.perf_counter() - start
    if metrics["n_unknown_targets"]:
        print(
            f"{metrics['n_unknown_targets']:,} test item(s) never occur in train: scored as "
            "misses (the library's rule), not dropped"
        )
    for metric in (f"hr@{K}", f"ndcg@{K}"):
        low, high = cis[metric]
        print(f"{metric.upper()}: {metrics[metric]:.4f} [{low:.4f}, {high:.4f}] (95% bootstrap)")
    print(
        "seconds: " + ", ".join(f"{name} {value:.1f}" for name, value in seconds.items()),
        flush=True,
    )
    if args.synthetic:
        print(f"NOTE: {SYNTHETIC_NOTE}")

    result = {
        "source": source,
        "synthetic": bool(args.synthetic),
        "timing_only": bool(args.synthetic),
        "note": SYNTHETIC_NOTE if args.synthetic else None,
        "protocol": {
            "user_fraction": args.user_fraction,
            "seed": args.seed,
            "max_interactions": args.max_interactions,
            "held_out": held_out,
            "train_negatives": int(model.n_negatives),
            "candidate_negatives": N_CANDIDATE_NEGATIVES,
            "k": K,
        },
        "sizes": sizes,
        "test_latest_fraction": None if time_col is None else latest_fraction(prepared.frame, test),
        "params": params,
        "epochs_run": epochs,
        "seconds": seconds,
        "metrics": {
            key: value if isinstance(value, int) else float(value) for key, value in metrics.items()
        },
        "intervals": {key: list(value) for key, value in cis.items()},
    }
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=1))
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
