"""bench/gpu.py without a GPU: the clear exit without CUDA, and every part on the CPU at tiny
sizes (``--cpu-smoke``), so that the code path the GPU run takes is exercised here."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest
import torch

from bench import gpu


def test_without_cuda_it_exits_2_and_says_why(monkeypatch, tmp_path: Path, capsys) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu.main(["--quick", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "CUDA" in err and "--cpu-smoke" in err
    assert not (tmp_path / "gpu.json").exists()


@pytest.fixture(scope="module")
def smoke(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    """One ``--cpu-smoke`` run: its JSON and what it printed."""
    out = tmp_path_factory.mktemp("gpu")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert gpu.main(["--cpu-smoke", "--out", str(out)]) == 0
    return json.loads((out / "gpu.json").read_text()), printed.getvalue()


def test_cpu_smoke_measures_every_training_setting(smoke: tuple[dict, str]) -> None:
    result, printed = smoke
    assert result["mode"] == "cpu-smoke" and result["torch"] == torch.__version__
    rows = result["throughput"]
    settings = {(r["batch_size"], r["precision"], r["optimizer"]) for r in rows}
    assert len(rows) == len(settings) == 8  # 2 batch sizes x (tf32, bf16-mixed) x 2 optimizers
    for row in rows:
        assert "error" not in row, row.get("traceback")
        assert row["samples_per_s"] > 0 and row["ratio_a100_tf32"] > 0
        assert row["batches_timed"] >= 1 and row["examples_timed"] > 0
    assert "throughput_error" not in result
    assert printed.count("| train, 20M-shaped |") == 8


def test_cpu_smoke_recommends_and_fits_ml1m(smoke: tuple[dict, str]) -> None:
    result, printed = smoke
    rec = result["recommend"]
    assert rec["library_users_per_s"] > 0 and rec["library_rows"] == 10 * rec["timed_users"]
    assert "gpu_users_per_s" not in rec  # the GPU copy is timed only with a GPU
    quality = result["ml1m"]
    assert 0.0 <= quality["ndcg@10"] <= quality["hr@10"] <= 1.0 and quality["fit_s"] > 0
    assert quality["cut_by_budget"] is False
    assert "| ML-1M" in printed and "| recommend k=10, library" in printed


def test_a_failing_part_does_not_lose_the_others(monkeypatch, tmp_path: Path) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("planted")

    monkeypatch.setattr(gpu, "throughput", broken)
    assert gpu.main(["--cpu-smoke", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert "planted" in result["throughput_error"]["error"]
    assert "recommend" not in result  # it needs the trained model
    assert 0.0 <= result["ml1m"]["hr@10"] <= 1.0  # still measured


def test_a_spent_budget_skips_what_is_left(tmp_path: Path) -> None:
    assert gpu.main(["--cpu-smoke", "--budget-s", "0", "--out", str(tmp_path)]) == 0
    result = json.loads((tmp_path / "gpu.json").read_text())
    assert all("skipped" in row for row in result["throughput"])
    assert result["ml1m"]["error"].startswith("skipped")
