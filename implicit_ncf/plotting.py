"""Plots of training histories and evaluation results (needs matplotlib: ``implicit_ncf[plot]``).

:func:`plot_history` draws the per-epoch loss and validation metrics of a fitted
:class:`~implicit_ncf.NeuralCF` (one panel per trained network, so three for a pretrained
NeuMF); :func:`plot_metrics` draws HR@k and NDCG@k at several cut-offs for several models, with
error bars when intervals are given. Both return the matplotlib Axes they drew on.

matplotlib is imported only when a function here is called, so importing this module (and the
rest of the package) never needs it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # pragma: no cover - typing only
    from matplotlib.axes import Axes

__all__ = ["plot_history", "plot_metrics"]

_METRIC_KEY = re.compile(r"^([a-z]+)@(\d+)$")
_NAMES = {"hr": "HR", "ndcg": "NDCG", "mrr": "MRR", "precision": "Precision", "recall": "Recall"}


def _pyplot(function: str) -> Any:
    """``matplotlib.pyplot``, or an ImportError that names the extra to install."""
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            f"implicit_ncf.plotting.{function} needs matplotlib, which is not installed; "
            "install it with: pip install implicit_ncf[plot]"
        ) from exc
    return plt


def _axes_grid(ax: Any, n: int, parameter_hint: str, function: str) -> tuple[Any, list[Any]]:
    """The ``n`` Axes to draw on: ``ax`` when given (one Axes, or a sequence of ``n``), else a
    new figure with one row of ``n`` panels. Returns (what to return, flat list of Axes)."""
    if ax is None:
        plt = _pyplot(function)
        _, grid = plt.subplots(1, n, figsize=(4.2 * n, 3.6), squeeze=False, layout="constrained")
        axes = list(grid.ravel())
        return (axes[0] if n == 1 else grid.ravel()), axes
    flat = list(np.ravel(np.asarray(ax, dtype=object)))
    if len(flat) != n or not all(hasattr(a, "plot") for a in flat):
        raise ValueError(
            f"ax must be one matplotlib Axes per panel: {n} for {parameter_hint}; got "
            f"{len(flat)} object(s) of type {type(flat[0]).__name__ if flat else 'none'}. Pass "
            f"ax=None to make a new figure, or e.g. plt.subplots(1, {n})[1]."
        )
    return (flat[0] if n == 1 else np.asarray(flat, dtype=object)), flat


def _history_rows(model: Any) -> list[dict[str, Any]]:
    """The history rows of a fitted model (``history_``), or rows passed directly."""
    rows = getattr(model, "history_", model)
    if hasattr(rows, "to_dict") and hasattr(rows, "columns"):  # a DataFrame
        rows = rows.to_dict("records")
    if isinstance(rows, Mapping) or not isinstance(rows, Sequence) or isinstance(rows, str):
        raise TypeError(
            "model must be a fitted NeuralCF (with history_) or its history rows (a list of "
            f"dicts with 'epoch' and 'loss'); got {type(model).__name__}."
        )
    rows = list(rows)
    if not rows:
        raise ValueError(
            "model has an empty history_: nothing to plot. Fit the model first (a model "
            "saved before history was recorded has none)."
        )
    for n, row in enumerate(rows):
        if not isinstance(row, Mapping) or "epoch" not in row or "loss" not in row:
            raise ValueError(
                f"history row {n} must be a dict with 'epoch' and 'loss' (as NeuralCF.history_ "
                f"has); got {row!r}."
            )
    return rows


def plot_history(model: Any, ax: Any = None) -> Axes | np.ndarray:
    """Training loss and validation metrics per epoch, one panel per stage.

    Parameters
    ----------
    model : NeuralCF or list of dict
        A fitted :class:`~implicit_ncf.NeuralCF` (its ``history_`` is read; a model loaded
        with :meth:`~implicit_ncf.NeuralCF.load` has it too), or the history rows themselves:
        dicts with ``epoch`` and ``loss``, optionally ``stage``, ``time`` and validation
        metrics such as ``val_hr@10`` and ``val_ndcg@10``.
    ax : matplotlib Axes, sequence of Axes or None, default None
        Where to draw: one Axes per stage (``"gmf"``, ``"mlp"`` and ``"neumf"`` for a
        pretrained NeuMF, in training order). ``None`` makes a new figure with one row of
        panels.

    Returns
    -------
    matplotlib.axes.Axes or ndarray of Axes
        The Axes of the loss curves, one per stage (a single Axes for a single stage). The
        validation metrics, when the model validated, are on a twin y-axis of each panel
        (``ax.right_ax``); the epoch whose weights were kept (``best_epoch_``) is marked on the
        last panel.

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install implicit_ncf[plot]``).
    TypeError, ValueError
        If ``model`` has no history rows, or ``ax`` does not hold one Axes per stage.

    See Also
    --------
    plot_metrics : Evaluation results of several models.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from implicit_ncf.plotting import plot_history
    >>> rows = [
    ...     {"stage": "gmf", "epoch": 0, "loss": 0.48, "val_hr@10": 0.41},
    ...     {"stage": "gmf", "epoch": 1, "loss": 0.33, "val_hr@10": 0.47},
    ... ]
    >>> ax = plot_history(rows)
    >>> ax.get_title()
    'gmf'
    """
    _pyplot("plot_history")
    rows = _history_rows(model)
    from matplotlib.ticker import MaxNLocator

    stages = list(dict.fromkeys(str(row.get("stage", "")) for row in rows))
    result, axes = _axes_grid(ax, len(stages), f"{len(stages)} stage(s) {stages}", "plot_history")
    best_epoch = getattr(model, "best_epoch_", None)
    for n, (stage, panel) in enumerate(zip(stages, axes, strict=True)):
        part = [row for row in rows if str(row.get("stage", "")) == stage]
        epochs = [int(row["epoch"]) for row in part]
        panel.plot(
            epochs, [float(row["loss"]) for row in part], marker="o", color="C0", label="loss"
        )
        panel.set_xlabel("epoch")
        panel.set_ylabel("training loss")
        panel.set_title(stage)
        if len(set(epochs)) <= 12:
            panel.set_xticks(sorted(set(epochs)))
        else:
            panel.xaxis.set_major_locator(MaxNLocator(integer=True))
        panel.set_xlim(min(epochs) - 0.5, max(epochs) + 0.5)
        val_keys = list(dict.fromkeys(k for row in part for k in row if str(k).startswith("val_")))
        handles, labels = panel.get_legend_handles_labels()
        if val_keys:
            right = panel.twinx()
            for c, key in enumerate(val_keys, start=1):
                points = [
                    (int(row["epoch"]), float(row[key]))
                    for row in part
                    if key in row and row[key] is not None and math.isfinite(float(row[key]))
                ]
                if points:
                    x, y = zip(*points, strict=True)
                    right.plot(x, y, marker="s", linestyle="--", color=f"C{c}", label=key)
            right.set_ylabel("validation")
            panel.right_ax = right
            more_handles, more_labels = right.get_legend_handles_labels()
            handles, labels = handles + more_handles, labels + more_labels
        if n == len(stages) - 1 and best_epoch is not None:
            kept = panel.axvline(int(best_epoch), color="0.5", linestyle=":", linewidth=1)
            handles.append(kept)
            labels.append(f"kept: epoch {int(best_epoch)}")
        # below the panel: inside, it would hide the curves of one of the two y-axes
        panel.legend(
            handles,
            labels,
            loc="upper center",
            bbox_to_anchor=(0.5, -0.18),
            ncol=2,
            fontsize="small",
            frameon=False,
        )
    return result


def _check_results(results: Any) -> dict[str, Mapping[str, Any]]:
    if not isinstance(results, Mapping) or not results:
        raise TypeError(
            "results must be a non-empty dict of model name -> evaluate() result (a dict with "
            f"keys such as 'hr@10' and 'ndcg@10'); got {type(results).__name__}."
        )
    out: dict[str, Mapping[str, Any]] = {}
    for name, value in results.items():
        if hasattr(value, "to_dict") and not hasattr(value, "columns"):  # a pandas Series
            value = value.to_dict()
        if not isinstance(value, Mapping):
            raise TypeError(
                f"results[{name!r}] must be the dict that evaluate() returns (or a Series "
                f"indexed by metric); got {type(value).__name__}."
            )
        out[str(name)] = value
    return out


def _interval_table(intervals: Any, models: list[str]) -> dict[str, dict[str, tuple[float, float]]]:
    """``{model: {"hr@10": (low, high), ...}}`` from the accepted forms of ``intervals``."""
    if intervals is None:
        return {}
    if hasattr(intervals, "columns") and hasattr(intervals, "index"):  # one DataFrame
        frame = intervals
        missing = {"ci_low", "ci_high"} - set(frame.columns)
        if missing:
            raise ValueError(
                f"intervals frame needs columns 'ci_low' and 'ci_high'; its columns are "
                f"{list(frame.columns)!r}."
            )
        flat = frame.reset_index()
        model_col = next((c for c in ("model", "name") if c in flat.columns), None)
        metric_col = next((c for c in ("metric", "key") if c in flat.columns), None)
        if model_col is None or metric_col is None:
            raise ValueError(
                "intervals frame must say which model and metric each row is: columns (or index "
                f"levels) 'model' and 'metric'; got {list(flat.columns)!r}. Or pass a dict "
                "{model: {metric: (low, high)}}."
            )
        table: dict[str, dict[str, tuple[float, float]]] = {}
        for row in flat.itertuples(index=False):
            record = row._asdict()
            table.setdefault(str(record[model_col]), {})[str(record[metric_col])] = (
                float(record["ci_low"]),
                float(record["ci_high"]),
            )
        return table
    if not isinstance(intervals, Mapping):
        raise TypeError(
            "intervals must be None, a dict {model: {metric: (low, high)}} (or {model: DataFrame "
            "indexed by metric with ci_low/ci_high columns}), or a DataFrame with model, metric, "
            f"ci_low and ci_high; got {type(intervals).__name__}."
        )
    table = {}
    for name, value in intervals.items():
        if str(name) not in models:
            raise ValueError(
                f"intervals has model {name!r}, which is not in results (models {models})."
            )
        if hasattr(value, "columns") and {"ci_low", "ci_high"} <= set(value.columns):
            table[str(name)] = {
                str(key): (float(low), float(high))
                for key, low, high in zip(
                    value.index, value["ci_low"], value["ci_high"], strict=True
                )
            }
            continue
        if not isinstance(value, Mapping):
            raise TypeError(
                f"intervals[{name!r}] must map metric names to (low, high) pairs; got "
                f"{type(value).__name__}."
            )
        entry = {}
        for key, pair in value.items():
            try:
                low, high = (float(v) for v in pair)
            except (TypeError, ValueError):
                raise ValueError(
                    f"intervals[{name!r}][{key!r}] must be a (low, high) pair of numbers; got "
                    f"{pair!r}."
                ) from None
            entry[str(key)] = (low, high)
        table[str(name)] = entry
    return table


def plot_metrics(
    results: Mapping[str, Mapping[str, Any]],
    *,
    metrics: Sequence[str] = ("hr", "ndcg"),
    k: Sequence[int] | None = None,
    intervals: Any = None,
    ax: Any = None,
    title: str | None = None,
) -> Axes | np.ndarray:
    """HR@k and NDCG@k (or other metrics) at several cut-offs for several models.

    Parameters
    ----------
    results : dict of str to dict
        Model name -> the dict that ``evaluate`` returns (keys such as ``"hr@5"``,
        ``"ndcg@10"``), e.g. ``{"popularity": pop.evaluate(test), "NeuMF": model.evaluate(test)}``;
        a pandas Series indexed by those keys works too.
    metrics : sequence of str, default ("hr", "ndcg")
        Metric families, one panel each (``"hr"``, ``"ndcg"``, ``"mrr"``, ...).
    k : sequence of int or None, default None
        Cut-offs on the x-axis; ``None`` takes every ``k`` found in ``results``.
    intervals : dict, pandas.DataFrame or None, default None
        Confidence intervals to draw as error bars: ``{model: {"hr@10": (low, high), ...}}``;
        or ``{model: DataFrame}`` indexed by metric key with ``ci_low`` and ``ci_high``
        columns; or one DataFrame with ``model``, ``metric``, ``ci_low`` and ``ci_high``
        (columns or index levels). Models or keys without an interval get no error bar.
        An interval must be of the value plotted: :func:`implicit_ncf.metrics.compare`'s is of
        the *difference* between two models, so plot it as such, e.g.
        ``plot_metrics({"NeuMF - pop": cmp["difference"]}, intervals={"NeuMF - pop": cmp})``
        with ``cmp = compare(neumf_per_user, pop_per_user)``.
    ax : matplotlib Axes, sequence of Axes or None, default None
        One Axes per metric family; ``None`` makes a new figure.
    title : str or None, default None
        Figure title (for example the evaluation protocol).

    Returns
    -------
    matplotlib.axes.Axes or ndarray of Axes
        One Axes per metric family (a single Axes for one family).

    Raises
    ------
    ImportError
        If matplotlib is not installed (``pip install implicit_ncf[plot]``).
    TypeError, ValueError
        If ``results`` is not a dict of evaluate() dicts, holds none of the requested metrics,
        an interval is not a (low, high) pair, or ``ax`` does not hold one Axes per family.

    See Also
    --------
    plot_history : The training curves of one model.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from implicit_ncf.plotting import plot_metrics
    >>> results = {
    ...     "popularity": {"hr@5": 0.30, "hr@10": 0.45, "ndcg@5": 0.20, "ndcg@10": 0.25},
    ...     "NeuMF": {"hr@5": 0.52, "hr@10": 0.68, "ndcg@5": 0.36, "ndcg@10": 0.41},
    ... }
    >>> axes = plot_metrics(results, intervals={"NeuMF": {"hr@10": (0.64, 0.72)}})
    >>> [a.get_title() for a in axes]
    ['HR@k', 'NDCG@k']
    """
    _pyplot("plot_metrics")
    table = _check_results(results)
    models = list(table)
    if isinstance(metrics, str) or not isinstance(metrics, Sequence) or not metrics:
        raise ValueError(
            f"metrics must be a non-empty sequence of metric names such as ('hr', 'ndcg'); got "
            f"{metrics!r}."
        )
    families = [str(m).lower() for m in metrics]
    found: dict[str, set[int]] = {}
    for value in table.values():
        for key in value:
            match = _METRIC_KEY.match(str(key))
            if match and match.group(1) in families:
                found.setdefault(match.group(1), set()).add(int(match.group(2)))
    missing = [f for f in families if f not in found]
    if missing:
        raise ValueError(
            f"results hold no value for metric(s) {missing} (keys like '{missing[0]}@10'); the "
            f"keys of results[{models[0]!r}] are {sorted(map(str, table[models[0]]))}."
        )
    if k is None:
        cutoffs = sorted(set().union(*found.values()))
    else:
        if isinstance(k, int | np.integer):
            k = [int(k)]
        cutoffs = sorted({int(c) for c in k})
        if not cutoffs or cutoffs[0] < 1:
            raise ValueError(f"k must be positive cut-offs such as (5, 10, 20); got {k!r}.")
    bounds = _interval_table(intervals, models)
    result, axes = _axes_grid(
        ax, len(families), f"{len(families)} metric(s) {families}", "plot_metrics"
    )
    positions = np.arange(len(cutoffs), dtype=float)
    width = 0.5 / max(1, len(models))
    for family, panel in zip(families, axes, strict=True):
        for n, name in enumerate(models):
            values = table[name]
            x, y, bars = [], [], []  # bars: (x, y, below, above) of points with an interval
            for pos, cut in zip(positions, cutoffs, strict=True):
                key = f"{family}@{cut}"
                if key not in values or values[key] is None:
                    continue
                point = float(values[key])
                x.append(pos + (n - (len(models) - 1) / 2) * width)
                y.append(point)
                if key in bounds.get(name, {}):
                    lo, hi = bounds[name][key]
                    bars.append((x[-1], point, max(0.0, point - lo), max(0.0, hi - point)))
            if not x:
                continue
            panel.plot(x, y, marker="o", color=f"C{n}", label=name)
            if bars:
                bx, by, below, above = (list(v) for v in zip(*bars, strict=True))
                panel.errorbar(
                    bx, by, yerr=np.array([below, above]), fmt="none", ecolor=f"C{n}", capsize=3
                )
        label = _NAMES.get(family, family.upper())
        panel.set_title(f"{label}@k")
        panel.set_xticks(positions, [str(c) for c in cutoffs])
        panel.set_xlabel("k (cut-off)")
        panel.set_ylabel(f"{label}@k")
        if panel.get_ylim()[0] >= 0 or not panel.has_data():
            panel.set_ylim(bottom=0)
        else:  # differences between models can be negative
            panel.axhline(0.0, color="0.4", linewidth=0.8)
        panel.grid(axis="y", alpha=0.3)
        panel.legend(loc="best", fontsize="small")
    if title is not None:
        axes[0].figure.suptitle(title)
    return result
