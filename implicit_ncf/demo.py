"""The demo: ``python -m implicit_ncf demo`` (``make demo``).

Trains NeuMF and dot-product MF on the embedded MovieLens ml-latest-small, evaluates them beside a
popularity baseline under the NCF protocol (the held-out item among 99 sampled unseen items) and
under full ranking, each figure with its 95% bootstrap interval over users, compares the models
pairwise (:func:`implicit_ncf.metrics.compare`), prints a user's top-10 and the films most similar
to a well-known one, and writes a comparison figure when matplotlib is installed.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import pandas as pd

from .evaluation import _evaluate_with_intervals

__all__ = ["demo"]

# A film every MovieLens user knows, for the similar-items example.
_WELL_KNOWN = "Toy Story (1995)"


def _cell(result: Any, key: str) -> str:
    """``mean [low, high]`` of ``key`` from a ``(means, intervals)`` pair."""
    means, intervals = result
    low, high = intervals[key]
    return f"{means[key]:.3f} [{low:.3f}, {high:.3f}]"


def _table(rows: list[tuple[str, Any, Any, float]]) -> str:
    """The models' HR@10 / NDCG@10, sampled and full, each with its 95% interval."""
    width = 22
    head = (
        f"{'model':<12}{'HR@10':>{width}}{'NDCG@10':>{width}}   "
        f"{'HR@10':>{width}}{'NDCG@10':>{width}}{'fit s':>8}"
    )
    lines = [
        f"{'':<12}{'99 sampled negatives':>{2 * width}}   {'full ranking':>{2 * width}}",
        head,
        "-" * len(head),
    ]
    for name, sampled, full, seconds in rows:
        lines.append(
            f"{name:<12}{_cell(sampled, 'hr@10'):>{width}}{_cell(sampled, 'ndcg@10'):>{width}}   "
            f"{_cell(full, 'hr@10'):>{width}}{_cell(full, 'ndcg@10'):>{width}}{seconds:>8.1f}"
        )
    return "\n".join(lines)


def demo(args: argparse.Namespace) -> int:
    """Run the demo with the command line's parsed options; returns the exit status."""
    from .data import DuplicateInteractionsWarning
    from .datasets import load_movielens, load_movies
    from .estimator import NeuralCF, PopularityRecommender, UnknownIdWarning
    from .metrics import compare
    from .splits import leave_one_out

    warnings.simplefilter("ignore", DuplicateInteractionsWarning)
    warnings.simplefilter("ignore", UnknownIdWarning)  # reported below instead
    ratings = load_movielens("latest-small")
    movies = load_movies("latest-small").set_index("item")
    print(
        f"MovieLens ml-latest-small (embedded): {len(ratings):,} ratings, "
        f"{ratings.user.nunique():,} users, {ratings.item.nunique():,} movies. Every rating is "
        "an implicit positive."
    )
    split = leave_one_out(ratings)
    print(
        f"Leave-one-out split: each user's latest interaction held out -> {len(split.train):,} "
        f"train rows, {len(split.test):,} test rows.\n"
    )

    start = time.perf_counter()
    models: dict[str, Any] = {"popularity": PopularityRecommender().fit(split.train)}
    seconds = {"popularity": time.perf_counter() - start}
    names = [args.model] if args.model == "mf" else [args.model, "mf"]
    for name in names:
        params: dict[str, Any] = {"model": name, "random_state": args.seed}
        params["verbose"] = not args.quiet
        if args.epochs is not None:
            params["n_epochs"] = args.epochs
        model = NeuralCF(**params)
        print(f"Training {model!r} with the default hyperparameters ...", flush=True)
        models[name] = model.fit(split.train)
        seconds[name] = model.fit_time_

    rows = []
    for name, model in models.items():
        sampled = _evaluate_with_intervals(model, split.test, k=(10,))
        full = _evaluate_with_intervals(model, split.test, k=(10,), n_negatives=None)
        rows.append((name, sampled[:2], full[:2], seconds[name]))
    print()
    print(_table(rows))
    counts = _evaluate_with_intervals(models["popularity"], split.test, k=(10,))[2]
    if counts["n_unknown_targets"]:
        print(
            f"\n{counts['n_unknown_targets']} of {counts['n_targets']} held-out movies never "
            "appear in training: no model can rank them, so they count as misses."
        )
    print(
        "\nSampled metrics rank the held-out item among 99 random unseen items (the NCF paper's "
        "protocol); full ranking ranks it among every unseen item and is the harder, more "
        "faithful measure. Brackets: 95% bootstrap intervals over users."
    )

    per_user = {
        name: model.evaluate(split.test, k=10, n_negatives=None, per_user=True)
        for name, model in models.items()
    }
    main = per_user[args.model]
    print(f"\nIs {args.model} really better? Paired over users, full ranking, NDCG@10:")
    for other in [n for n in per_user if n != args.model]:
        row = compare(main, per_user[other], metrics=["ndcg@10"]).loc["ndcg@10"]
        verdict = "a real difference" if row["p_value"] < 0.05 else "within the noise"
        print(
            f"  {args.model} - {other}: {row['difference']:+.4f} "
            f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}], p = {row['p_value']:.3g} "
            f"({verdict})"
        )

    model = models[args.model]
    user = args.user if args.user is not None else int(split.test["user"].iloc[0])
    recs = model.recommend(user, k=10)
    recs["title"] = movies["title"].reindex(recs["item"]).to_numpy()
    held = split.test.loc[split.test["user"] == user, "item"]
    print(f"\nTop-10 for user {user} (movies they rated in training excluded):")
    for rank, row in enumerate(recs.itertuples(index=False), start=1):
        mark = "  <- held-out test movie" if len(held) and row.item == held.iloc[0] else ""
        print(f"{rank:>3}. {row.title}  (score {row.score:.3f}){mark}")
    if len(held):
        title = movies["title"].get(held.iloc[0], "?")
        print(f"Held-out test movie: {title}")
    _print_similar(model, movies)
    clicks = [260, 1196, 1210]  # the Star Wars trilogy
    if set(clicks) <= set(model.item_encoder_.classes_.tolist()):
        fresh = model.recommend("visitor", k=5, interactions=clicks)
        print("\nA new visitor who just watched the Star Wars trilogy (fold-in, no retraining):")
        for rank, row in enumerate(fresh.itertuples(index=False), start=1):
            because = model.explain("visitor", row.item, k=1, interactions=clicks).iloc[0]
            print(
                f"{rank:>3}. {movies['title'].get(row.item, '?')}  (score {row.score:.3f}; "
                f"nearest watched: {movies['title'].get(because['item'], '?')}, "
                f"{because['score']:.2f})"
            )
    if args.plot is not None:
        _demo_figure(models, split.test, Path(args.plot))
    return 0


def _print_similar(model: Any, movies: pd.DataFrame) -> None:
    """The five films nearest to a well-known one in the model's learned item space."""
    matches = movies.index[movies["title"] == _WELL_KNOWN]
    if not len(matches) or matches[0] not in set(model.item_encoder_.classes_.tolist()):
        return
    similar = model.similar_items(matches[0], k=5)
    print(f"\nThe five films most similar to {_WELL_KNOWN} (cosine in the learned item space):")
    for rank, row in enumerate(similar.itertuples(index=False), start=1):
        print(f"{rank:>3}. {movies['title'].get(row.item, '?')}  ({row.score:.3f})")


def _demo_figure(models: dict[str, Any], test: pd.DataFrame, path: Path) -> None:
    """HR@k / NDCG@k with 95% intervals of the demo's models, written to ``path``."""
    try:
        import matplotlib
    except ImportError:
        print(
            "\n(No figure: matplotlib is not installed. pip install implicit_ncf[plot] to get one.)"
        )
        return
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from .plotting import plot_metrics

    results, intervals = {}, {}
    for name, model in models.items():
        results[name], intervals[name], _ = _evaluate_with_intervals(model, test, k=(1, 5, 10, 20))
    axes = plot_metrics(
        results,
        intervals=intervals,
        title="ml-latest-small, leave-one-out, 99 sampled negatives (95% bootstrap intervals)",
    )
    figure = np.ravel(np.asarray(axes, dtype=object))[0].figure
    try:
        figure.savefig(path, dpi=110)
    except OSError as exc:
        print(f"\n(Could not write the figure to {path}: {exc})")
        return
    finally:
        plt.close(figure)
    print(f"\nWrote the comparison figure (HR@k, NDCG@k with 95% intervals) to {path.resolve()}")
