"""The command line: ``implicit-ncf`` (the installed script) and ``python -m implicit_ncf``.

Five commands, each with ``--help``:

``implicit-ncf train RATINGS --out MODEL``
    Fit :class:`~implicit_ncf.NeuralCF` on a CSV, TSV or Parquet file of interactions and save
    it with :meth:`~implicit_ncf.NeuralCF.save`.
``implicit-ncf recommend MODEL --users ID [ID ...]``
    Top-k items of some users (``--all-users --output FILE``: of everyone, written in blocks of
    users so that memory stays bounded), as a table, CSV or JSON.
``implicit-ncf similar MODEL --items ID [ID ...]``
    The k most similar items of some items (``--all-items --output FILE``: of the whole
    catalogue, in blocks), by cosine in the learned item space.
``implicit-ncf evaluate MODEL TEST``
    HR@k, NDCG@k and MRR@k of held-out interactions (99 sampled negatives, or ``--full``
    ranking) with 95% bootstrap intervals over users.
``implicit-ncf demo``
    Train and evaluate NeuMF on the embedded MovieLens ml-latest-small.

Whatever the user can fix (a missing or unreadable file, a missing column, an unknown id, a bad
option value) ends with one line ``implicit-ncf: error: ...`` on standard error and exit status
1; argparse's usage errors exit with 2. ``IMPLICIT_NCF_DEBUG=1`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover - typing only
    import numpy as np
    import pandas as pd

__all__ = ["main"]

PROG = "implicit-ncf"
_MODELS = ("neumf", "gmf", "mlp", "mf")
_COMPRESSION = (".gz", ".bz2", ".zip", ".xz", ".zst")


class CommandError(Exception):
    """A failure the user can fix; ``main`` prints its message as one line and exits with 1."""


# --------------------------------------------------------------------------------------------
# argument types
# --------------------------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer; got {text!r}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number; got {text!r}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a non-negative integer seed; got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a non-negative integer seed; got {text!r}")
    return value


# --------------------------------------------------------------------------------------------
# files
# --------------------------------------------------------------------------------------------


def _kind(path: Path) -> str:
    """``"parquet"``, ``"tsv"`` or ``"csv"`` from the file name (compression suffixes aside)."""
    suffixes = [s.lower() for s in path.suffixes]
    while suffixes and suffixes[-1] in _COMPRESSION:
        suffixes.pop()
    last = suffixes[-1] if suffixes else ""
    if last in (".parquet", ".pq"):
        return "parquet"
    if last in (".tsv", ".tab"):
        return "tsv"
    return "csv"


def _read_interactions(
    path: str | os.PathLike[str],
    *,
    columns: dict[str, str | None],
    sep: str | None = None,
    what: str = "RATINGS",
) -> pd.DataFrame:
    """Read a CSV, TSV or Parquet file of interactions and check that it has ``columns``.

    Parameters
    ----------
    path : str or path-like
        ``.csv`` (comma), ``.tsv`` / ``.tab`` (tab), ``.parquet`` / ``.pq`` (needs pyarrow),
        optionally compressed (``.gz``, ``.bz2``, ``.zip``, ``.xz``, ``.zst``). Any other
        name is read as delimited text whose separator is guessed from the first line (tab,
        then comma).
    columns : dict of str to str or None
        Option name -> column the file must have (``{"--user-col": "userId"}``); ``None``
        values are not required.
    sep : str or None, default None
        Field separator of a text file; ``None`` decides by the name as above.
    what : str, default "RATINGS"
        What the file is, for error messages.

    Returns
    -------
    pandas.DataFrame

    Raises
    ------
    CommandError
        If the file is missing, empty, not parseable, or lacks a column (the message names the
        file, the option and the columns it has).
    """
    import pandas as pd

    file = Path(path)
    if not file.exists():
        raise CommandError(f"{what} file {str(file)!r} does not exist.")
    if file.is_dir():
        raise CommandError(f"{what} {str(file)!r} is a directory; pass a CSV, TSV or Parquet file.")
    kind = _kind(file)
    try:
        if kind == "parquet":
            try:
                frame = pd.read_parquet(file)
            except ImportError:
                raise CommandError(
                    f"reading the Parquet file {str(file)!r} needs pyarrow: pip install pyarrow "
                    "(or save the file as CSV)."
                ) from None
        else:
            if sep is None:
                sep = "\t" if kind == "tsv" else _guess_separator(file)
            frame = pd.read_csv(file, sep=sep)
    except CommandError:
        raise
    except pd.errors.EmptyDataError:
        raise CommandError(f"{what} file {str(file)!r} is empty.") from None
    except UnicodeDecodeError:
        raise CommandError(
            f"{what} file {str(file)!r} is not text (CSV/TSV); for Parquet name it *.parquet."
        ) from None
    except (pd.errors.ParserError, ValueError, OSError) as exc:
        detail = " ".join(str(exc).split())
        raise CommandError(f"{what} file {str(file)!r} could not be read: {detail}") from None
    if frame.empty:
        raise CommandError(f"{what} file {str(file)!r} has a header but no rows.")
    for option, column in columns.items():
        if column is not None and column not in frame.columns:
            listed = ", ".join(map(str, frame.columns[:12]))
            more = " ..." if len(frame.columns) > 12 else ""
            hint = (
                " (the separator may be wrong: pass --sep)"
                if len(frame.columns) == 1 and kind != "parquet"
                else ""
            )
            raise CommandError(
                f"{what} file {str(file)!r} has no column {column!r} ({option}); its columns are: "
                f"{listed}{more}. Pass {option} with one of them{hint}."
            )
    return frame


def _guess_separator(file: Path) -> str:
    """Tab if the first line of a text file has one, else comma."""
    import pandas as pd

    try:
        first = next(iter(pd.read_csv(file, sep="\x00", header=None, nrows=1, dtype=str)[0]), "")
    except (pd.errors.ParserError, ValueError, OSError, StopIteration):
        return ","
    return "\t" if "\t" in str(first) else ","


def _load_model(path: str) -> Any:
    from .estimator import NeuralCF

    file = Path(path)
    if not file.exists():
        raise CommandError(f"MODEL file {path!r} does not exist; write one with {PROG} train.")
    if file.is_dir():
        raise CommandError(f"MODEL {path!r} is a directory; pass the file {PROG} train wrote.")
    try:
        return NeuralCF.load(file)
    except ValueError as exc:
        raise CommandError(f"MODEL file {path!r} is not a usable model: {exc}") from None


def _parse_ids(values: Sequence[str], classes: np.ndarray, option: str) -> list[Any]:
    """Ids typed on the command line (strings) as the model's id type."""
    kind = classes.dtype.kind
    out: list[Any] = []
    for text in values:
        if kind in "iu":
            try:
                out.append(int(text))
            except ValueError:
                raise CommandError(
                    f"{option} {text!r}: this model's ids are integers (e.g. "
                    f"{', '.join(map(str, classes[:3].tolist()))})."
                ) from None
        elif kind == "f":
            try:
                out.append(float(text))
            except ValueError:
                raise CommandError(f"{option} {text!r}: this model's ids are numbers.") from None
        else:
            out.append(text)
    if kind not in "iuf":  # object ids: match by their text, so that mixed ids still work
        by_text = {str(c): c for c in classes.tolist()}
        out = [by_text.get(str(v), v) for v in out]
    return out


# --------------------------------------------------------------------------------------------
# train
# --------------------------------------------------------------------------------------------


def _train(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.is_dir():
        raise CommandError(f"--out {args.out!r} is a directory; pass a file name such as model.pt.")
    if not out.parent.exists():
        raise CommandError(
            f"--out {args.out!r}: the directory {str(out.parent)!r} does not exist; create it "
            "first."
        )
    columns = {
        "--user-col": args.user_col,
        "--item-col": args.item_col,
        "--rating-col": args.rating_col if args.min_rating is not None else None,
    }
    frame = _read_interactions(args.ratings, columns=columns, sep=args.sep)
    time_col = args.time_col if args.time_col in frame.columns else None
    if args.time_col is not None and time_col is None and args.validate:
        print(
            f"note: {args.ratings} has no column {args.time_col!r} (--time-col): --validate holds "
            "out a random interaction per user instead of the latest.",
            file=sys.stderr,
        )
    print(
        f"Read {args.ratings}: {len(frame):,} rows, {frame[args.user_col].nunique():,} users, "
        f"{frame[args.item_col].nunique():,} items.",
        flush=True,
    )
    from .estimator import NeuralCF

    params: dict[str, Any] = {
        "model": args.model,
        "user_col": args.user_col,
        "item_col": args.item_col,
        "rating_col": args.rating_col,
        "time_col": time_col,
        "min_rating": args.min_rating,
        "early_stopping": bool(args.validate),
        "accelerator": args.accelerator,
        "verbose": not args.quiet,
        "random_state": args.seed,
    }
    for option, name in (
        ("epochs", "n_epochs"),
        ("factors", "n_factors"),
        ("negatives", "n_negatives"),
        ("batch_size", "batch_size"),
        ("lr", "learning_rate"),
        ("patience", "patience"),
    ):
        value = getattr(args, option)
        if value is not None:
            params[name] = value
    if args.hidden_layers is not None:
        params["hidden_layers"] = tuple(args.hidden_layers)
    model = NeuralCF(**params)
    print(f"Training {model!r} ...", flush=True)
    model.fit(frame)
    model.save(out)
    epochs: dict[str, int] = {}
    for row in model.history_:
        stage = str(row["stage"])
        epochs[stage] = epochs.get(stage, 0) + 1
    stages = ", ".join(f"{stage} {n} epoch(s)" for stage, n in epochs.items())
    kept = (
        f"; kept the weights of epoch {model.best_epoch_} (best validation NDCG@10)"
        if model.best_epoch_ is not None
        else ""
    )
    print(
        f"Trained {stages} in {model.fit_time_:.1f} s{kept}. Saved the model to {out} "
        f"({out.stat().st_size / 1e6:.1f} MB)."
    )
    return 0


# --------------------------------------------------------------------------------------------
# recommend
# --------------------------------------------------------------------------------------------


def _output_format(args: argparse.Namespace) -> str:
    if args.format is not None:
        return str(args.format)
    if args.output is None:
        return "table"
    return "json" if Path(args.output).suffix.lower() == ".json" else "csv"


class _Writer:
    """Writes recommendation blocks as a table, CSV or a JSON array, one block at a time."""

    def __init__(self, stream: IO[str], fmt: str, columns: list[str]) -> None:
        self.stream, self.fmt, self.columns = stream, fmt, columns
        self.rows = 0
        self.widths: list[int] | None = None

    def write(self, frame: pd.DataFrame) -> None:
        frame = frame.set_axis(self.columns, axis=1)
        if self.fmt == "csv":
            frame.to_csv(self.stream, index=False, header=self.rows == 0)
        elif self.fmt == "json":
            lines = frame.to_json(orient="records", lines=True, force_ascii=False).strip()
            if lines:
                self.stream.write(("[\n" if self.rows == 0 else ",\n") + lines.replace("\n", ",\n"))
        else:
            text = frame.astype(str)
            text["score"] = frame["score"].map("{:.4f}".format)
            if self.widths is None:  # widths of the first block (at least the header's)
                self.widths = [
                    max(len(c), int(text[c].str.len().max()) + 2 if len(text) else 0)
                    for c in self.columns
                ]
                header = "  ".join(
                    c.rjust(w) for c, w in zip(self.columns, self.widths, strict=True)
                )
                self.stream.write(header + "\n")
            for row in text.itertuples(index=False):
                self.stream.write(
                    "  ".join(str(v).rjust(w) for v, w in zip(row, self.widths, strict=True)) + "\n"
                )
        self.rows += len(frame)

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.rows else "[]\n")
        self.stream.flush()


def _recommend(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    if args.unknown == "popular":
        model.set_params(on_unknown_user="popular")
    classes = model.user_encoder_.classes_
    if args.all_users:
        users: Sequence[Any] = classes
    else:
        users = list(dict.fromkeys(_parse_ids(args.users, classes, "--users")))
        unknown = [
            u for u, i in zip(users, model.user_encoder_.get_indexer(users), strict=True) if i < 0
        ]
        if unknown and args.unknown == "error":
            shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
            raise CommandError(
                f"unknown user id(s) {shown} ({len(unknown)} of {len(users)}): not in the data "
                f"the model was trained on ({len(classes):,} users, e.g. "
                f"{', '.join(map(str, classes[:3].tolist()))}). Pass --unknown popular to give "
                "them the most popular items."
            )
    columns = [str(model.user_col), "rank", str(model.item_col), "score"]

    def block_of(block: list[Any]) -> pd.DataFrame:
        recs = model.recommend(block, k=args.k, exclude_seen=not args.include_seen)
        ranks = recs.groupby("user", sort=False).cumcount() + 1
        recs.insert(1, "rank", ranks.to_numpy())
        return recs[["user", "rank", "item", "score"]]

    _write_blocks(args, users, columns, block_of, "recommendations", "user(s)")
    return 0


def _write_blocks(
    args: argparse.Namespace,
    queries: Sequence[Any],
    columns: list[str],
    block_of: Any,
    what: str,
    of: str,
) -> None:
    """Write ``block_of(block)`` for each ``args.block_size`` queries to ``args.output`` (through
    a ``.partial`` file renamed when complete) or standard output, in ``_output_format``."""
    import numpy as np

    fmt = _output_format(args)
    target = Path(args.output) if args.output is not None else None
    if target is not None and not target.parent.exists():
        raise CommandError(
            f"--output {args.output!r}: the directory {str(target.parent)!r} does not exist."
        )
    partial = target.with_name(target.name + ".partial") if target is not None else None
    try:
        with (
            open(partial, "w", encoding="utf-8", newline="")
            if partial is not None
            else contextlib.nullcontext(sys.stdout)
        ) as stream:
            writer = _Writer(stream, fmt, columns)
            for start in range(0, len(queries), args.block_size):
                block = queries[start : start + args.block_size]
                block = block.tolist() if isinstance(block, np.ndarray) else list(block)
                writer.write(block_of(block))
            writer.close()
        if partial is not None and target is not None:
            os.replace(partial, target)
    except BaseException:
        if partial is not None:
            partial.unlink(missing_ok=True)
        raise
    if target is not None:
        print(
            f"Wrote {writer.rows:,} {what} for {len(queries):,} {of} to {target} ({fmt}).",
            file=sys.stderr,
        )


# --------------------------------------------------------------------------------------------
# similar
# --------------------------------------------------------------------------------------------


def _similar(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    classes = model.item_encoder_.classes_
    if args.all_items:
        items: Sequence[Any] = classes
    else:
        items = list(dict.fromkeys(_parse_ids(args.items, classes, "--items")))
        unknown = [
            i for i, j in zip(items, model.item_encoder_.get_indexer(items), strict=True) if j < 0
        ]
        if unknown:
            shown = ", ".join(map(str, unknown[:5])) + (" ..." if len(unknown) > 5 else "")
            raise CommandError(
                f"unknown item id(s) {shown} ({len(unknown)} of {len(items)}): not in the "
                f"model's catalogue ({len(classes):,} items, e.g. "
                f"{', '.join(map(str, classes[:3].tolist()))})."
            )
    item_col = str(model.item_col)
    columns = [f"query_{item_col}", "rank", item_col, "score"]

    def block_of(block: list[Any]) -> pd.DataFrame:
        similar = model.similar_items(block, k=args.k)
        ranks = similar.groupby("query_item", sort=False).cumcount() + 1
        similar.insert(1, "rank", ranks.to_numpy())
        return similar[["query_item", "rank", "item", "score"]]

    _write_blocks(args, items, columns, block_of, "neighbours", "item(s)")
    return 0


# --------------------------------------------------------------------------------------------
# evaluate
# --------------------------------------------------------------------------------------------


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import demo

    return demo(args)


def _evaluate(args: argparse.Namespace) -> int:
    model = _load_model(args.model)
    user_col = args.user_col or model.user_col
    item_col = args.item_col or model.item_col
    option = {user_col: "--user-col", item_col: "--item-col"}
    test = _read_interactions(
        args.test,
        columns={option[user_col]: user_col, option[item_col]: item_col},
        sep=args.sep,
        what="TEST",
    )
    test = test.rename(columns={user_col: model.user_col, item_col: model.item_col})
    classes = model.user_encoder_.classes_
    if classes.dtype.kind in "iu" and test[model.user_col].dtype.kind not in "iu":
        print(
            f"note: the model's user ids are integers but TEST's {user_col!r} column is "
            f"{test[model.user_col].dtype}; those ids count as unknown users.",
            file=sys.stderr,
        )
    n_negatives = None if args.full else args.negatives
    ks = list(dict.fromkeys(args.k))
    start = time.perf_counter()
    from .evaluation import _evaluate_with_intervals

    means, intervals, counts = _evaluate_with_intervals(
        model,
        test,
        k=ks,
        n_negatives=n_negatives,
        random_state=args.seed,
        n_resamples=args.resamples,
    )
    seconds = time.perf_counter() - start
    if args.format == "json":
        payload = {
            "protocol": "full" if args.full else f"{n_negatives} sampled negatives",
            "metrics": {
                key: {"value": means[key], "ci_low": lo, "ci_high": hi}
                for key, (lo, hi) in intervals.items()
            },
            **counts,
        }
        print(json.dumps(payload, indent=2))
        return 0
    protocol = (
        "against every item they did not interact with in training (full ranking)"
        if args.full
        else f"among {n_negatives} sampled items they never interacted with"
    )
    print(
        f"{args.test}: {counts['n_targets']:,} held-out interactions of {counts['n_users']:,} "
        f"users, each ranked {protocol}."
    )
    head = f"{'metric':<10}{'value':>8}   95% interval"
    print(head)
    print("-" * (len(head) + 6))
    for key, (lo, hi) in intervals.items():
        name, cut = key.split("@")
        label = f"{name.upper()}@{cut}"
        print(f"{label:<10}{means[key]:>8.4f}   [{lo:.4f}, {hi:.4f}]")
    print(
        f"Intervals: percentile bootstrap over users ({args.resamples:,} resamples, seed "
        f"{args.seed}). {seconds:.1f} s."
    )
    if counts["n_unknown_targets"]:
        print(
            f"{counts['n_unknown_targets']:,} held-out interaction(s) have a user or item the "
            f"model never saw in training ({counts['n_unknown_users']:,} unknown user(s)); they "
            "count as misses."
        )
    return 0


# --------------------------------------------------------------------------------------------
# parser and entry point
# --------------------------------------------------------------------------------------------


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a default only where there is one worth showing."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def _build_parser() -> argparse.ArgumentParser:
    """The ``implicit-ncf`` argument parser (one sub-command per command)."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Neural Collaborative Filtering on implicit feedback, from the shell.",
        epilog=f"Run '{PROG} COMMAND --help' for the options of a command.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    formatter = _HelpFormatter

    train = commands.add_parser(
        "train",
        help="fit a model on a CSV/TSV/Parquet file of interactions and save it",
        description="Fit NeuralCF on a file of interactions (every row is a positive) and save "
        "it. Shows a progress bar on a terminal and one line per epoch elsewhere.",
        formatter_class=formatter,
    )
    train.add_argument("ratings", metavar="RATINGS", help="CSV, TSV or Parquet file")
    train.add_argument("--out", "-o", required=True, metavar="MODEL", help="model file to write")
    train.add_argument("--model", default="neumf", choices=_MODELS, help="network")
    _column_options(train, defaults=True)
    train.add_argument(
        "--time-col",
        metavar="COL",
        default="timestamp",
        help="timestamp column, read by --validate to hold out each user's latest interaction",
    )
    train.add_argument(
        "--rating-col", metavar="COL", default="rating", help="rating column (for --min-rating)"
    )
    train.add_argument(
        "--min-rating",
        type=float,
        metavar="X",
        default=None,
        help="keep only rows rated at least this as positives",
    )
    train.add_argument(
        "--epochs", type=_positive_int, metavar="N", help="epochs (default: the model's, 8)"
    )
    train.add_argument(
        "--factors",
        type=_positive_int,
        metavar="N",
        help="embedding size (default: 128 for neumf, 64 for the other networks)",
    )
    train.add_argument(
        "--hidden-layers",
        type=_positive_int,
        nargs="+",
        metavar="N",
        help="MLP tower widths (default 128 64 32)",
    )
    train.add_argument(
        "--negatives", type=_positive_int, metavar="N", help="negatives per positive (8)"
    )
    train.add_argument(
        "--batch-size", type=_positive_int, metavar="N", help="examples per step (2048)"
    )
    train.add_argument("--lr", type=_positive_float, metavar="X", help="learning rate (2e-3)")
    train.add_argument(
        "--validate",
        action="store_true",
        help="hold out each user's latest training interaction, report validation HR@10 and "
        "NDCG@10 every epoch, keep the best epoch and stop after --patience epochs without gain",
    )
    train.add_argument(
        "--patience", type=_positive_int, metavar="N", help="epochs without gain (3)"
    )
    train.add_argument("--seed", type=_seed, metavar="N", default=0, help="random seed")
    train.add_argument(
        "--accelerator", default="auto", help="Lightning accelerator: auto, cpu, gpu, ..."
    )
    train.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    train.set_defaults(run=_train)

    recommend = commands.add_parser(
        "recommend",
        help="top-k items for some users, or for everyone",
        description="Top-k items per user from a saved model, excluding the items each user "
        "interacted with in training.",
        formatter_class=formatter,
    )
    recommend.add_argument("model", metavar="MODEL", help="model file written by train")
    who = recommend.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="ID", help="user ids")
    who.add_argument("--all-users", action="store_true", help="every user, written block by block")
    recommend.add_argument(
        "--k", type=_positive_int, metavar="N", default=10, help="items per user"
    )
    recommend.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default=None,
        help="output format (default: table on the terminal, else by --output's extension: "
        ".json -> json, anything else -> csv)",
    )
    recommend.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
    )
    recommend.add_argument(
        "--include-seen", action="store_true", help="do not exclude the training items"
    )
    recommend.add_argument(
        "--unknown",
        choices=("error", "popular"),
        default="error",
        help="what to do with user ids the model never saw",
    )
    recommend.add_argument(
        "--block-size", type=_positive_int, metavar="N", default=1024, help="users scored per block"
    )
    recommend.set_defaults(run=_recommend)

    similar = commands.add_parser(
        "similar",
        help="the k most similar items to some items, or to every item",
        description="The k nearest items to each query item in a saved model's learned item "
        "space (cosine similarity), the query itself left out: 'more like this' lists, for "
        "some items or for the whole catalogue.",
        formatter_class=formatter,
    )
    similar.add_argument("model", metavar="MODEL", help="model file written by train")
    which = similar.add_mutually_exclusive_group(required=True)
    which.add_argument("--items", nargs="+", metavar="ID", help="item ids")
    which.add_argument("--all-items", action="store_true", help="every item, block by block")
    similar.add_argument("--k", type=_positive_int, metavar="N", default=10, help="per item")
    similar.add_argument(
        "--format",
        choices=("table", "csv", "json"),
        default=None,
        help="output format (default: table on the terminal, else by --output's extension: "
        ".json -> json, anything else -> csv)",
    )
    similar.add_argument(
        "--output", "-o", metavar="FILE", help="write to FILE instead of standard output"
    )
    similar.add_argument(
        "--block-size", type=_positive_int, metavar="N", default=256, help="items per block"
    )
    similar.set_defaults(run=_similar)

    evaluate = commands.add_parser(
        "evaluate",
        help="HR/NDCG/MRR at k of held-out interactions, with 95%% intervals",
        description="Rank each held-out interaction among 99 sampled items the user never "
        "interacted with (the NCF protocol) or, with --full, against the whole catalogue, and "
        "report HR@k, NDCG@k and MRR@k with 95% percentile-bootstrap intervals over users.",
        formatter_class=formatter,
    )
    evaluate.add_argument("model", metavar="MODEL", help="model file written by train")
    evaluate.add_argument("test", metavar="TEST", help="CSV, TSV or Parquet file of held-out rows")
    evaluate.add_argument(
        "--full", action="store_true", help="rank against every item (full ranking)"
    )
    evaluate.add_argument(
        "--k", type=_positive_int, nargs="+", default=[5, 10, 20], metavar="K", help="cut-offs"
    )
    evaluate.add_argument(
        "--negatives",
        type=_positive_int,
        metavar="N",
        default=99,
        help="sampled negatives per user",
    )
    evaluate.add_argument(
        "--seed", type=_seed, metavar="N", default=0, help="seed of negatives and bootstrap"
    )
    evaluate.add_argument(
        "--resamples", type=_positive_int, metavar="N", default=1000, help="bootstrap resamples"
    )
    _column_options(evaluate, defaults=False)
    evaluate.add_argument("--format", choices=("table", "json"), default="table", help="output")
    evaluate.set_defaults(run=_evaluate)

    demo = commands.add_parser(
        "demo",
        help="train and evaluate NeuMF on the embedded MovieLens ml-latest-small",
        description="Train and evaluate NeuMF on the embedded dataset; print recommendations "
        "and write a comparison figure when matplotlib is installed.",
        formatter_class=formatter,
    )
    demo.add_argument("--model", default="neumf", choices=_MODELS, help="network")
    demo.add_argument(
        "--epochs", type=_positive_int, metavar="N", default=None, help="epochs (model's)"
    )
    demo.add_argument("--user", type=int, default=None, help="user id to show (first test user)")
    demo.add_argument("--seed", type=_seed, metavar="N", default=0, help="random seed")
    demo.add_argument("--quiet", "-q", action="store_true", help="no progress output")
    demo.add_argument(
        "--plot",
        metavar="PNG",
        default="implicit_ncf_demo.png",
        help="where to write the comparison figure",
    )
    demo.add_argument("--no-plot", dest="plot", action="store_const", const=None, help="no figure")
    demo.set_defaults(run=_run_demo)
    return parser


def _column_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    if defaults:
        parser.add_argument("--user-col", metavar="COL", default="user", help="user id column")
        parser.add_argument("--item-col", metavar="COL", default="item", help="item id column")
    else:
        parser.add_argument(
            "--user-col", metavar="COL", default=None, help="user id column (default: model's)"
        )
        parser.add_argument(
            "--item-col", metavar="COL", default=None, help="item id column (default: model's)"
        )
    parser.add_argument(
        "--sep",
        default=None,
        help="field separator of a text file (default: by extension, .tsv tab, .csv comma)",
    )


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: IO[str] | None = None,
    line: str | None = None,
) -> None:
    text = " ".join(str(message).split())
    print(f"{PROG}: warning: {text}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status.

    Parameters
    ----------
    argv : sequence of str or None, default None
        The arguments after the program name; ``None`` reads ``sys.argv[1:]``.

    Returns
    -------
    int
        0 on success, 1 for an error the user can fix (one line on standard error), 2 for a
        command-line usage error, 130 when interrupted.
    """
    parser = _build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    debug = bool(os.environ.get("IMPLICIT_NCF_DEBUG"))
    with warnings.catch_warnings():
        warnings.showwarning = _show_warning
        try:
            return int(args.run(args))
        except KeyboardInterrupt:
            print(f"{PROG}: interrupted.", file=sys.stderr)
            return 130
        except CommandError as exc:
            if debug:
                raise
            print(f"{PROG}: error: {exc}", file=sys.stderr)
            return 1
        except BrokenPipeError:  # e.g. `implicit-ncf recommend ... | head`
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            return 0
        except Exception as exc:
            if debug:
                raise
            text = " ".join(str(exc).split()) or type(exc).__name__
            print(f"{PROG}: error: {text}", file=sys.stderr)
            return 1
