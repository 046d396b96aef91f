"""The command line (implicit_ncf.cli): train -> recommend -> evaluate on tiny files, the bad-input
cases (one line on stderr, non-zero exit, never a traceback), and the training output it shows."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from implicit_ncf import NeuralCF
from implicit_ncf.cli import main
from implicit_ncf.datasets import load_movielens
from implicit_ncf.evaluation import _bootstrap_interval, _evaluate_with_intervals
from implicit_ncf.splits import leave_one_out

REPO = Path(__file__).resolve().parents[1]
TINY = ["--epochs", "1", "--factors", "4", "--hidden-layers", "8", "4"]


@pytest.fixture(scope="module")
def movielens_files(tmp_path_factory) -> dict[str, Path]:
    """The embedded ml-latest-small's first 25 users, written with MovieLens column names."""
    folder = tmp_path_factory.mktemp("cli")
    ratings = load_movielens("latest-small")
    ratings = ratings[ratings["user"] <= 25].rename(columns={"user": "userId", "item": "movieId"})
    split = leave_one_out(ratings, user_col="userId", item_col="movieId")
    files = {"ratings": folder / "ratings.csv", "train": folder / "train.tsv"}
    ratings.to_csv(files["ratings"], index=False)
    split.train.to_csv(files["train"], sep="\t", index=False)
    files["test"] = folder / "test.csv"
    split.test.to_csv(files["test"], index=False)
    return files


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def trained(movielens_files, tmp_path_factory) -> Path:
    """An MF model trained by the command line on the training part of the split."""
    path = tmp_path_factory.mktemp("model") / "m.pt"
    code = main(
        [
            "train",
            str(movielens_files["train"]),
            "--user-col",
            "userId",
            "--item-col",
            "movieId",
            "--model",
            "mf",
            "--out",
            str(path),
            "--quiet",
            *TINY[:4],
        ]
    )
    assert code == 0
    return path


def test_train_then_recommend_on_a_movielens_csv(movielens_files, tmp_path, capsys) -> None:
    model_path = tmp_path / "m.pt"
    code, out, err = run(
        capsys,
        "train",
        movielens_files["ratings"],
        "--user-col",
        "userId",
        "--item-col",
        "movieId",
        "--validate",
        "--out",
        model_path,
        *TINY,
    )
    assert code == 0, err
    assert "Read " in out and "25 users" in out
    for stage in ("gmf", "mlp", "neumf"):  # one line per epoch of each stage, with validation
        assert any(line.startswith(stage) and "val_ndcg@10=" in line for line in out.splitlines())
    assert f"Saved the model to {model_path}" in out
    model = NeuralCF.load(model_path)
    assert (model.user_col, model.item_col, model.n_epochs, model.n_factors) == (
        "userId",
        "movieId",
        1,
        4,
    )
    code, out, err = run(capsys, "recommend", model_path, "--users", "1", "2", "--k", "5")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].split() == ["userId", "rank", "movieId", "score"]
    rows = [line.split() for line in lines[1:]]
    assert [r[0] for r in rows] == ["1"] * 5 + ["2"] * 5
    assert [r[1] for r in rows] == [str(i) for i in range(1, 6)] * 2
    expected = model.recommend([1, 2], k=5)
    assert [int(r[2]) for r in rows] == expected["item"].tolist()
    ratings = pd.read_csv(movielens_files["ratings"])
    seen = set(ratings.loc[ratings["userId"] == 1, "movieId"])
    assert not seen & {int(r[2]) for r in rows[:5]}


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_recommend_formats(trained, capsys, fmt) -> None:
    code, out, err = run(
        capsys, "recommend", trained, "--users", "3", "1", "--k", "4", "--format", fmt
    )
    assert code == 0, err
    frame = pd.read_csv(io.StringIO(out)) if fmt == "csv" else pd.DataFrame(json.loads(out))
    assert list(frame.columns) == ["userId", "rank", "movieId", "score"]
    expected = NeuralCF.load(trained).recommend([3, 1], k=4)
    assert frame["userId"].tolist() == expected["user"].tolist()
    assert frame["movieId"].tolist() == expected["item"].tolist()
    np.testing.assert_allclose(frame["score"], expected["score"], rtol=1e-6)
    assert frame.groupby("userId")["score"].is_monotonic_decreasing.all()


@pytest.mark.parametrize(("name", "fmt"), [("recs.csv", "csv"), ("recs.json", "json")])
def test_all_users_are_written_block_by_block(trained, tmp_path, capsys, name, fmt) -> None:
    target = tmp_path / name
    code, _, err = run(
        capsys, "recommend", trained, "--all-users", "--k", "3", "--block-size", "7", "-o", target
    )
    assert code == 0, err
    assert f"to {target} ({fmt})" in err
    assert not target.with_name(name + ".partial").exists()
    frame = pd.read_csv(target) if fmt == "csv" else pd.DataFrame(json.loads(target.read_text()))
    model = NeuralCF.load(trained)
    expected = model.recommend(model.user_encoder_.classes_.tolist(), k=3)
    assert len(frame) == len(expected) == 3 * model.n_users_
    assert frame["userId"].tolist() == expected["user"].tolist()
    assert frame["movieId"].tolist() == expected["item"].tolist()


@pytest.mark.parametrize("fmt", ["table", "csv", "json"])
def test_similar_matches_the_estimator(trained, capsys, fmt) -> None:
    code, out, err = run(
        capsys, "similar", trained, "--items", "1", "50", "--k", "4", "--format", fmt
    )
    assert code == 0, err
    if fmt == "table":
        lines = out.strip().splitlines()
        frame = pd.DataFrame([line.split() for line in lines[1:]], columns=lines[0].split())
        frame = frame.astype({"query_movieId": int, "rank": int, "movieId": int, "score": float})
    else:
        frame = pd.read_csv(io.StringIO(out)) if fmt == "csv" else pd.DataFrame(json.loads(out))
    assert list(frame.columns) == ["query_movieId", "rank", "movieId", "score"]
    expected = NeuralCF.load(trained).similar_items([1, 50], k=4)
    assert frame["query_movieId"].tolist() == expected["query_item"].tolist() == [1] * 4 + [50] * 4
    assert frame["rank"].tolist() == [1, 2, 3, 4] * 2
    assert frame["movieId"].tolist() == expected["item"].tolist()
    np.testing.assert_allclose(frame["score"], expected["score"], atol=1e-4)


def test_similar_for_every_item_is_written_block_by_block(trained, tmp_path, capsys) -> None:
    target = tmp_path / "similar.csv"
    code, _, err = run(
        capsys, "similar", trained, "--all-items", "--k", "3", "--block-size", "50", "-o", target
    )
    assert code == 0, err
    assert "neighbours for" in err and f"to {target} (csv)" in err
    frame = pd.read_csv(target)
    model = NeuralCF.load(trained)
    expected = model.similar_items(model.item_encoder_.classes_.tolist(), k=3)
    assert len(frame) == 3 * model.n_items_
    assert frame["query_movieId"].tolist() == expected["query_item"].tolist()
    assert frame["movieId"].tolist() == expected["item"].tolist()
    assert (frame["query_movieId"] != frame["movieId"]).all()


def test_similar_names_unknown_and_badly_typed_items(trained, capsys) -> None:
    code, _, err = run(capsys, "similar", trained, "--items", "1", "999999999")
    assert code == 1 and "unknown item id(s) 999999999 (1 of 2)" in err
    code, _, err = run(capsys, "similar", trained, "--items", "abc")
    assert code == 1 and "--items 'abc': this model's ids are integers" in err
    with pytest.raises(SystemExit) as exit_info:  # --items or --all-items is required
        main(["similar", str(trained)])
    assert exit_info.value.code == 2


def test_string_ids_typed_on_the_command_line_match(tmp_path, capsys) -> None:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {"u": [f"user{i}" for i in rng.integers(0, 20, 400)], "i": rng.integers(0, 60, 400)}
    )
    frame.to_csv(tmp_path / "r.csv", index=False)
    code, _, err = run(
        capsys, "train", tmp_path / "r.csv", "--user-col", "u", "--item-col", "i",
        "--model", "mf", "--out", tmp_path / "m.pt", "-q", *TINY[:4],
    )  # fmt: skip
    assert code == 0, err
    code, out, err = run(capsys, "recommend", tmp_path / "m.pt", "--users", "user3", "--k", "2")
    assert code == 0, err
    assert [line.split()[0] for line in out.strip().splitlines()[1:]] == ["user3", "user3"]


def test_evaluate_matches_the_estimator_and_brackets_it(trained, movielens_files, capsys) -> None:
    model = NeuralCF.load(trained)
    test = pd.read_csv(movielens_files["test"])
    for extra, n_negatives in (([], 99), (["--full"], None)):
        code, out, err = run(
            capsys, "evaluate", trained, movielens_files["test"], "--k", "5", "10", "--format",
            "json", *extra,
        )  # fmt: skip
        assert code == 0, err
        payload = json.loads(out)
        with pytest.warns(UserWarning, match="scored as misses"):  # test items new to training
            expected = model.evaluate(test, k=(5, 10), n_negatives=n_negatives)
        assert payload["n_targets"] == expected["n_targets"] == len(test)
        for key, entry in payload["metrics"].items():
            assert entry["value"] == pytest.approx(expected[key], abs=1e-12)
            assert entry["ci_low"] <= entry["value"] <= entry["ci_high"]
        hr = payload["metrics"]["hr@10"]
        if 0 < hr["value"] < 1:  # some hits, some misses: the interval has a width
            assert hr["ci_high"] > hr["ci_low"]
    code, out, err = run(capsys, "evaluate", trained, movielens_files["test"])
    assert code == 0, err
    assert "95% interval" in out and "NDCG@10" in out and "bootstrap over users" in out


def test_evaluate_counts_unknown_ids_as_misses(trained, movielens_files, tmp_path) -> None:
    model = NeuralCF.load(trained)
    test = pd.read_csv(movielens_files["test"])
    test.loc[0, "movieId"] = 10**9
    test.loc[1, "userId"] = 10**9
    for n_negatives in (99, None):
        with pytest.warns(UserWarning, match="scored as misses"):
            expected = model.evaluate(test, k=(1, 10), n_negatives=n_negatives)
        with pytest.warns(UserWarning, match="scored as misses"):
            means, _, counts = _evaluate_with_intervals(
                model, test, k=(1, 10), n_negatives=n_negatives
            )
        assert counts["n_unknown_users"] == expected["n_unknown_users"] == 1
        assert counts["n_unknown_targets"] == expected["n_unknown_targets"] >= 2
        for key, value in means.items():
            assert value == pytest.approx(expected[key], abs=1e-12)


def test_bootstrap_interval_width_and_user_clusters() -> None:
    rng = np.random.default_rng(1)
    hits = rng.random(400) < 0.5
    low, high = _bootstrap_interval(hits.astype(float), np.arange(400))
    assert low < hits.mean() < high
    assert 0.07 < high - low < 0.13  # about 2 x 1.96 x sqrt(0.25 / 400) = 0.098
    assert _bootstrap_interval(np.ones(50), np.arange(50)) == (1.0, 1.0)
    # two targets per user, always equal within a user: resampling users, not targets, makes
    # the interval as wide as with one target per user (twice the targets would narrow it)
    paired = np.repeat(hits[:200].astype(float), 2)
    users = np.repeat(np.arange(200), 2)
    low2, high2 = _bootstrap_interval(paired, users)
    low1, high1 = _bootstrap_interval(hits[:200].astype(float), np.arange(200))
    assert high2 - low2 == pytest.approx(high1 - low1, abs=0.02)


# -- bad input: one line on stderr, a non-zero exit, never a traceback -----------------------


def _bad_files(folder: Path) -> dict[str, Path]:
    (folder / "empty.csv").write_text("")
    (folder / "header.csv").write_text("userId,movieId\n")
    (folder / "binary.csv").write_bytes(b"\x80\x81\xfe\xff" * 64)
    (folder / "semicolon.csv").write_text("userId;movieId\n1;2\n")
    (folder / "notamodel.pt").write_bytes(b"not a model")
    (folder / "adir").mkdir(exist_ok=True)
    return {p.name: p for p in folder.iterdir()}


BAD = [
    (["train", "{missing}", "--out", "{tmp}/m.pt"], "RATINGS file '{missing}' does not exist"),
    (["train", "{tmp}/adir", "--out", "{tmp}/m.pt"], "is a directory"),
    (["train", "{tmp}/empty.csv", "--out", "{tmp}/m.pt"], "is empty"),
    (
        [
            "train",
            "{tmp}/header.csv",
            "--out",
            "{tmp}/m.pt",
            "--user-col",
            "userId",
            "--item-col",
            "movieId",
        ],
        "has a header but no rows",
    ),
    (["train", "{tmp}/binary.csv", "--out", "{tmp}/m.pt"], "is not text"),
    (
        ["train", "{ratings}", "--out", "{tmp}/m.pt"],
        "has no column 'user' (--user-col); its columns are: userId, movieId, rating, timestamp. "
        "Pass --user-col with one of them.",
    ),
    (
        ["train", "{ratings}", "--out", "{tmp}/m.pt", "--user-col", "userId"],
        "has no column 'item' (--item-col)",
    ),
    (
        ["train", "{tmp}/semicolon.csv", "--out", "{tmp}/m.pt", "--user-col", "userId"],
        "the separator may be wrong: pass --sep",
    ),
    (["train", "{ratings}", "--out", "{tmp}/nowhere/m.pt"], "does not exist; create it"),
    (["train", "{ratings}", "--out", "{tmp}/adir"], "--out '{tmp}/adir' is a directory"),
    (
        [
            "train",
            "{ratings}",
            "--user-col",
            "userId",
            "--item-col",
            "movieId",
            "--min-rating",
            "4",
            "--rating-col",
            "stars",
            "--out",
            "{tmp}/m.pt",
        ],
        "has no column 'stars' (--rating-col)",
    ),
    (["recommend", "{missing}", "--users", "1"], "MODEL file '{missing}' does not exist"),
    (["recommend", "{tmp}/notamodel.pt", "--users", "1"], "is not a usable model"),
    (["recommend", "{model}", "--users", "1", "999999"], "unknown user id(s) 999999 (1 of 2)"),
    (["recommend", "{model}", "--users", "abc"], "--users 'abc': this model's ids are integers"),
    (["recommend", "{model}", "--all-users", "-o", "{tmp}/nowhere/r.csv"], "does not exist"),
    (["evaluate", "{model}", "{missing}"], "TEST file '{missing}' does not exist"),
    (
        ["evaluate", "{model}", "{ratings}", "--item-col", "title"],
        "has no column 'title' (--item-col)",
    ),
    (["evaluate", "{model}", "{tmp}/header.csv"], "has a header but no rows"),
]


@pytest.mark.parametrize(("argv", "message"), BAD)
def test_bad_input_is_one_line_and_exit_1(
    argv, message, trained, movielens_files, tmp_path, capsys
) -> None:
    _bad_files(tmp_path)
    names = {
        "tmp": tmp_path,
        "missing": tmp_path / "missing.csv",
        "ratings": movielens_files["ratings"],
        "model": trained,
    }
    code, out, err = run(capsys, *(a.format(**names) for a in argv))
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("implicit-ncf: error: ")
    assert message.format(**names) in lines[0]
    assert "Traceback" not in err + out


@pytest.mark.parametrize(
    "argv",
    [
        ["recommend", "m.pt", "--users", "1", "--k", "0"],
        ["recommend", "m.pt"],
        ["recommend", "m.pt", "--users", "1", "--all-users"],
        ["train", "r.csv", "--out", "m.pt", "--epochs", "-1"],
        ["train", "r.csv"],
        ["evaluate", "m.pt", "t.csv", "--resamples", "x"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2_without_traceback(argv, capsys) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "usage: implicit-ncf" in err and "Traceback" not in err


def test_parquet_without_pyarrow_says_what_to_install(tmp_path, capsys, monkeypatch) -> None:
    path = tmp_path / "r.parquet"
    path.write_bytes(b"PAR1")

    def no_engine(*args, **kwargs):
        raise ImportError("Unable to find a usable engine; tried using: 'pyarrow'")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    code, _, err = run(capsys, "train", path, "--out", tmp_path / "m.pt")
    assert code == 1
    assert "needs pyarrow: pip install pyarrow" in err


def test_parquet_is_read_when_pyarrow_is_installed(movielens_files, tmp_path, capsys) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "r.parquet"
    pd.read_csv(movielens_files["ratings"]).to_parquet(path)
    code, _, err = run(
        capsys, "train", path, "--user-col", "userId", "--item-col", "movieId", "--model", "mf",
        "--out", tmp_path / "m.pt", "-q", *TINY[:4],
    )  # fmt: skip
    assert code == 0, err


def test_python_dash_m_entry_point_reports_errors_without_traceback(tmp_path) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("IMPLICIT_NCF_DEBUG", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "implicit_ncf",
            "recommend",
            str(tmp_path / "none.pt"),
            "--users",
            "1",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"implicit-ncf: error: MODEL file '{tmp_path / 'none.pt'}' does not exist; write one "
        "with implicit-ncf train."
    ]
    result = subprocess.run(
        [sys.executable, "-m", "implicit_ncf", "--help"], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0
    for command in ("train", "recommend", "evaluate", "demo"):
        assert command in result.stdout


# -- training output: Lightning's banners hidden, one bar or one line per epoch ---------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


BANNERS = ("GPU available", "TPU available", "litlogger", "Total params", "`Trainer.fit` stopped")


def _fit_verbose(capfd, caplog, monkeypatch, *, terminal: bool, **params) -> tuple[str, str]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"user": rng.integers(0, 30, 600), "item": rng.integers(0, 50, 600)})
    stdout = _Terminal() if terminal else None
    if stdout is not None:
        monkeypatch.setattr(sys, "stdout", stdout)
    caplog.set_level(logging.INFO)
    NeuralCF(
        model="neumf",
        n_factors=4,
        hidden_layers=(8, 4),
        n_epochs=2,
        verbose=True,
        random_state=0,
        **params,
    ).fit(frame)
    if stdout is not None:
        monkeypatch.undo()
    out, err = capfd.readouterr()
    shown = out + err + caplog.text + (stdout.getvalue() if stdout is not None else "")
    return (stdout.getvalue() if stdout is not None else out), shown


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_verbose_fit_in_a_log_prints_one_line_per_epoch(capfd, caplog, monkeypatch) -> None:
    out, shown = _fit_verbose(capfd, caplog, monkeypatch, terminal=False)
    assert "\r" not in out
    lines = out.strip().splitlines()
    assert [line.split()[:3] for line in lines] == [
        ["gmf", "epoch", "0"],
        ["gmf", "epoch", "1"],
        ["mlp", "epoch", "0"],
        ["mlp", "epoch", "1"],
        ["neumf", "epoch", "0"],
    ]
    assert all("loss=" in line for line in lines)
    for banner in BANNERS:
        assert banner not in shown


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_verbose_fit_on_a_terminal_shows_a_bar_and_no_banner(capfd, caplog, monkeypatch) -> None:
    out, shown = _fit_verbose(capfd, caplog, monkeypatch, terminal=True)
    assert "it/s]" in out or "s/it]" in out  # tqdm's bar, redrawn with carriage returns
    assert "\r" in out
    assert sum("epoch   0" in line for line in out.split("\n")) == 3  # one per stage
    for banner in BANNERS:
        assert banner not in shown


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_lightning_output_comes_back_with_trainer_kwargs(capfd, caplog, monkeypatch) -> None:
    _, shown = _fit_verbose(
        capfd, caplog, monkeypatch, terminal=False, trainer_kwargs={"enable_model_summary": True}
    )
    assert "GPU available" in shown
    assert "Total params" in shown
    # and Lightning's loggers are left as they were
    assert logging.getLogger("pytorch_lightning").level in (logging.NOTSET, logging.INFO)
    assert logging.getLogger("lightning.pytorch.utilities.rank_zero").level == logging.NOTSET


def test_train_help_states_the_estimators_defaults() -> None:
    """The defaults that ``implicit-ncf train --help`` quotes are NeuralCF's own."""
    import argparse
    import inspect
    import re

    from implicit_ncf.cli import _build_parser

    parser = _build_parser()
    (train,) = [
        action.choices["train"]
        for action in parser._actions
        if isinstance(action, argparse._SubParsersAction)
    ]
    helps = {a.option_strings[0]: a.help or "" for a in train._actions if a.option_strings}
    defaults = {name: p.default for name, p in inspect.signature(NeuralCF).parameters.items()}
    for flag, name in (
        ("--epochs", "n_epochs"),
        ("--negatives", "n_negatives"),
        ("--batch-size", "batch_size"),
        ("--lr", "learning_rate"),
        ("--patience", "patience"),
    ):
        quoted = re.findall(r"\d[\d.e-]*", helps[flag])
        assert float(quoted[-1]) == float(defaults[name]), (flag, helps[flag], defaults[name])
    layers = " ".join(str(h) for h in defaults["hidden_layers"])
    assert f"default {layers}" in helps["--hidden-layers"]
    assert defaults["n_factors"] is None
    for model, size in (("neumf", 128), ("mf", 64), ("gmf", 64), ("mlp", 64)):
        resolved = NeuralCF(model=model)._n_factors()
        assert resolved == size, (model, resolved)
    assert "128 for neumf, 64 for the other networks" in helps["--factors"]
