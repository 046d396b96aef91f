"""Command line: ``python -m implicit_ncf demo``.

The demo trains NeuMF on the embedded MovieLens ml-latest-small, evaluates it under the NCF
protocol (test item among 99 sampled unseen items) and under full ranking beside a popularity
baseline, and prints a user's top-10 with movie titles.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def _table(rows: list[tuple[str, dict[str, float], dict[str, float], float]]) -> str:
    head = f"{'model':<12}{'HR@10':>8}{'NDCG@10':>9}   {'HR@10':>8}{'NDCG@10':>9}{'fit s':>8}"
    lines = [
        f"{'':<12}{'99 sampled negatives':>17}   {'full ranking':>17}",
        head,
        "-" * len(head),
    ]
    for name, sampled, full, seconds in rows:
        lines.append(
            f"{name:<12}{sampled['hr@10']:>8.3f}{sampled['ndcg@10']:>9.3f}   "
            f"{full['hr@10']:>8.3f}{full['ndcg@10']:>9.3f}{seconds:>8.1f}"
        )
    return "\n".join(lines)


def demo(argv: Sequence[str] | None = None) -> int:
    """Train and evaluate NeuMF on the embedded dataset; print recommendations."""
    parser = argparse.ArgumentParser(prog="python -m implicit_ncf demo", description=demo.__doc__)
    parser.add_argument("--model", default="neumf", choices=["neumf", "gmf", "mlp", "mf"])
    parser.add_argument(
        "--epochs", type=int, default=None, help="maximum epochs (default: model's)"
    )
    parser.add_argument("--user", type=int, default=None, help="user id to show (default: first)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)

    import warnings

    from .data import DuplicateInteractionsWarning
    from .datasets import load_movielens, load_movies
    from .estimator import NeuralCF, PopularityRecommender, UnknownIdWarning
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

    rows = []
    start = time.perf_counter()
    popular = PopularityRecommender().fit(split.train)
    pop_time = time.perf_counter() - start
    rows.append(
        (
            "popularity",
            popular.evaluate(split.test, k=10),
            popular.evaluate(split.test, k=10, n_negatives=None),
            pop_time,
        )
    )

    params = {"model": args.model, "random_state": args.seed, "verbose": not args.quiet}
    if args.epochs is not None:
        params["n_epochs"] = args.epochs
    model = NeuralCF(**params)
    print(f"Training {model!r} with the default hyperparameters ...")
    model.fit(split.train)
    sampled = model.evaluate(split.test, k=10)
    full = model.evaluate(split.test, k=10, n_negatives=None)
    rows.append((args.model, sampled, full, model.fit_time_))
    print()
    print(_table(rows))
    if sampled["n_unknown_targets"]:
        print(
            f"\n{sampled['n_unknown_targets']} of {sampled['n_targets']} held-out movies never "
            "appear in training: no model can rank them, so they count as misses."
        )
    print(
        "\nSampled metrics rank the held-out item among 99 random unseen items (the NCF paper's "
        "protocol); full ranking ranks it among every unseen item and is the harder, more "
        "faithful measure."
    )

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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m implicit_ncf`` and the ``implicit-ncf`` script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"demo": demo}
    if not argv or argv[0] not in commands:
        print("usage: python -m implicit_ncf demo [--model neumf|gmf|mlp|mf] [--epochs N]")
        return 0 if argv and argv[0] in ("-h", "--help") else 2
    return commands[argv[0]](argv[1:])


if __name__ == "__main__":
    sys.exit(main())
