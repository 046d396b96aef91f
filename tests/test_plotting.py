"""implicit_ncf.plotting, headless (Agg): real figures from real fits, and the error paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from conftest import planted_interactions  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

from implicit_ncf import NeuralCF, PopularityRecommender  # noqa: E402
from implicit_ncf.plotting import plot_history, plot_metrics  # noqa: E402
from implicit_ncf.splits import leave_one_out  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def fitted():
    split = leave_one_out(planted_interactions(n_users=60, n_items=80, seed=3))
    model = NeuralCF(
        n_factors=8,
        hidden_layers=(16, 8),
        n_epochs=2,
        early_stopping=True,
        patience=2,
        random_state=0,
    ).fit(split.train)
    return model, split


def _png_pixels(figure, path: Path) -> np.ndarray:
    figure.savefig(path, dpi=60)
    assert path.stat().st_size > 5_000
    return plt.imread(path)


def test_plot_history_one_panel_per_stage_of_a_pretrained_neumf(fitted, tmp_path) -> None:
    model, _ = fitted
    axes = plot_history(model)
    assert isinstance(axes, np.ndarray) and len(axes) == 3
    assert [a.get_title() for a in axes] == ["gmf", "mlp", "neumf"]
    for ax, stage in zip(axes, ["gmf", "mlp", "neumf"], strict=True):
        rows = [r for r in model.history_ if r["stage"] == stage]
        loss = ax.get_lines()[0]
        np.testing.assert_allclose(loss.get_ydata(), [r["loss"] for r in rows])
        labels = [line.get_label() for line in ax.right_ax.get_lines()]
        assert labels == ["val_hr@10", "val_ndcg@10"]
        np.testing.assert_allclose(
            ax.right_ax.get_lines()[0].get_ydata(), [r["val_hr@10"] for r in rows]
        )
    kept = [t.get_text() for t in axes[-1].get_legend().get_texts()]
    assert f"kept: epoch {model.best_epoch_}" in kept
    pixels = _png_pixels(axes[0].figure, tmp_path / "history.png")
    assert pixels.std() > 0.05  # curves and text, not a blank canvas


def test_plot_history_of_a_loaded_model_and_of_rows(fitted, tmp_path) -> None:
    model, _ = fitted
    model.save(tmp_path / "m.pt")
    loaded = NeuralCF.load(tmp_path / "m.pt")
    assert len(plot_history(loaded)) == 3
    rows = [{"epoch": 0, "loss": 0.7}, {"epoch": 1, "loss": 0.5}]  # no stage, no validation
    ax = plot_history(rows)
    assert not hasattr(ax, "right_ax")
    np.testing.assert_allclose(ax.get_lines()[0].get_ydata(), [0.7, 0.5])
    assert list(ax.get_xticks()) == [0, 1]


def test_plot_history_draws_into_given_axes() -> None:
    rows = [
        {"stage": "gmf", "epoch": 0, "loss": 0.6},
        {"stage": "neumf", "epoch": 0, "loss": 0.4},
    ]
    _, given = plt.subplots(1, 2)
    axes = plot_history(rows, ax=given)
    assert list(axes) == list(given)
    with pytest.raises(ValueError, match="ax must be one matplotlib Axes per panel: 2"):
        plot_history(rows, ax=given[0])


@pytest.mark.parametrize(
    ("model", "error", "match"),
    [
        ([], ValueError, "empty history_"),
        ("history", TypeError, "fitted NeuralCF"),
        ({"epoch": 0}, TypeError, "fitted NeuralCF"),
        ([{"epoch": 0}], ValueError, "row 0 must be a dict with 'epoch' and 'loss'"),
    ],
)
def test_plot_history_rejects_bad_input(model, error, match) -> None:
    with pytest.raises(error, match=match):
        plot_history(model)


@pytest.fixture(scope="module")
def results(fitted):
    model, split = fitted
    pop = PopularityRecommender().fit(split.train)
    k = (1, 5, 10)
    return {
        "popularity": pop.evaluate(split.test, k=k, n_negatives=20),
        "NeuMF": model.evaluate(split.test, k=k, n_negatives=20),
    }


def _error_bars(ax) -> list[np.ndarray]:
    """The vertical segments of every error bar on ``ax``."""
    return [
        seg for c in ax.collections if isinstance(c, LineCollection) for seg in c.get_segments()
    ]


def test_plot_metrics_lines_per_model_and_error_bars(results, tmp_path) -> None:
    intervals = {
        name: {
            key: (value - 0.05, min(1.0, value + 0.04)) for key, value in r.items() if "@" in key
        }
        for name, r in results.items()
    }
    axes = plot_metrics(results, intervals=intervals, title="planted")
    assert [a.get_title() for a in axes] == ["HR@k", "NDCG@k"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == ["1", "5", "10"]
    for ax, family in zip(axes, ["hr", "ndcg"], strict=True):
        lines = [line for line in ax.get_lines() if line.get_label() in results]
        assert [line.get_label() for line in lines] == ["popularity", "NeuMF"]
        for line in lines:
            expected = [results[line.get_label()][f"{family}@{k}"] for k in (1, 5, 10)]
            np.testing.assert_allclose(line.get_ydata(), expected)
        bars = _error_bars(ax)
        assert len(bars) == 6  # 2 models x 3 cut-offs
        assert all(seg[0, 0] == seg[1, 0] for seg in bars)  # vertical
        name = "NeuMF"
        low, high = intervals[name][f"{family}@5"]
        tops = sorted(round(float(seg[:, 1].max()), 9) for seg in bars)
        assert round(high, 9) in tops
        assert round(low, 9) in sorted(round(float(seg[:, 1].min()), 9) for seg in bars)
    assert axes[0].figure.get_suptitle() == "planted"
    pixels = _png_pixels(axes[0].figure, tmp_path / "metrics.png")
    assert pixels.std() > 0.05


def test_plot_metrics_without_intervals_has_no_error_bars(results) -> None:
    ax = plot_metrics(results, metrics=("mrr",), k=(5, 10))
    assert ax.get_title() == "MRR@k"
    assert _error_bars(ax) == []
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5", "10"]


def test_plot_metrics_accepts_interval_frames(results) -> None:
    long = pd.DataFrame(
        {
            "model": ["NeuMF", "NeuMF"],
            "metric": ["hr@10", "ndcg@10"],
            "ci_low": [0.1, 0.05],
            "ci_high": [0.99, 0.95],
        }
    ).set_index(["model", "metric"])
    axes = plot_metrics(results, intervals=long)
    assert len(_error_bars(axes[0])) == 1 and len(_error_bars(axes[1])) == 1
    per_model = {"NeuMF": long.loc["NeuMF"]}  # indexed by metric, ci_low/ci_high columns
    axes = plot_metrics(results, intervals=per_model)
    # the bar's foot is the interval's low end (its top may be the value itself, here 1.0)
    feet = [float(seg[:, 1].min()) for seg in _error_bars(axes[0])]
    assert feet == pytest.approx([0.1])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"results": []}, TypeError, "non-empty dict of model name"),
        ({"results": {"a": 0.5}}, TypeError, r"results\['a'\] must be the dict"),
        ({"metrics": ("precision",)}, ValueError, r"no value for metric\(s\) \['precision'\]"),
        ({"metrics": "hr"}, ValueError, "metrics must be a non-empty sequence"),
        ({"k": (0,)}, ValueError, "k must be positive cut-offs"),
        ({"intervals": {"other": {}}}, ValueError, "intervals has model 'other'"),
        ({"intervals": {"NeuMF": {"hr@10": 0.5}}}, ValueError, r"\(low, high\) pair"),
        ({"intervals": [1, 2]}, TypeError, "intervals must be None"),
        ({"intervals": pd.DataFrame({"low": [0.1]})}, ValueError, "ci_low"),
    ],
)
def test_plot_metrics_rejects_bad_input(results, kwargs, error, match) -> None:
    kwargs = {"results": results, **kwargs}
    with pytest.raises(error, match=match):
        plot_metrics(**kwargs)


def test_missing_matplotlib_is_an_import_error_naming_the_extra(monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)  # import now raises ImportError
    with pytest.raises(ImportError, match=r"pip install implicit_ncf\[plot\]"):
        plot_metrics({"a": {"hr@10": 0.5}})
    with pytest.raises(ImportError, match=r"plot_history needs matplotlib"):
        plot_history([{"epoch": 0, "loss": 0.5}])


def test_importing_plotting_does_not_import_matplotlib() -> None:
    code = "import sys, implicit_ncf.plotting, implicit_ncf.cli; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plot_metrics_draws_a_compare_difference_with_its_interval(fitted) -> None:
    from implicit_ncf.metrics import compare, evaluate
    from implicit_ncf.sampling import sample_candidates

    model, split = fitted
    pop = PopularityRecommender().fit(split.train)
    candidates = sample_candidates(split.train, split.test, n_negatives=20, random_state=0)
    per_user = {
        name: evaluate(
            candidates.assign(score=m.predict(candidates["user"], candidates["item"])),
            k=(5, 10),
            per_user=True,
        )
        for name, m in (("NeuMF", model), ("popularity", pop))
    }
    cmp = compare(per_user["NeuMF"], per_user["popularity"], n_resamples=500)
    axes = plot_metrics({"NeuMF - pop": cmp["difference"]}, intervals={"NeuMF - pop": cmp})
    for ax, family in zip(axes, ["hr", "ndcg"], strict=True):
        (line,) = [line for line in ax.get_lines() if line.get_label() == "NeuMF - pop"]
        np.testing.assert_allclose(
            line.get_ydata(), cmp["difference"][[f"{family}@5", f"{family}@10"]]
        )
        tops = sorted(float(seg[:, 1].max()) for seg in _error_bars(ax))
        bottoms = sorted(float(seg[:, 1].min()) for seg in _error_bars(ax))
        assert tops == pytest.approx(sorted(cmp["ci_high"][[f"{family}@5", f"{family}@10"]]))
        assert bottoms == pytest.approx(sorted(cmp["ci_low"][[f"{family}@5", f"{family}@10"]]))
        if bottoms[0] < 0:  # an axis of differences is not clipped at 0
            assert ax.get_ylim()[0] < 0
