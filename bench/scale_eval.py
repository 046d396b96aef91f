"""Evaluation and recommendation at ML-20M scale, each shape in its own process.

``python -m bench.scale_eval`` runs two workers, each in a fresh process (``--shape 20m`` and
``--shape 1m``), and prints one JSON object: the ML-20M-shaped figures, the ML-1M-shaped ones
(the baseline of the same run) and their ratios, per cell of the catalogue. The workers take
turns (``--turns``): the 20M one prepares its data and models, then the 1M one, and from then on
every timed call of either waits until the parent grants it the turn, which goes to the two
alternately. So the calls of the two shapes never overlap and are made within seconds of each
other, and a change in the host's load over minutes slows both shapes' calls alike instead of
only the ones of the worker that ran during it (one worker after the other let such a change
move the 20M / 1M ratios across their target between runs). Each process keeps its own memory,
so each shape's peak is its own.

A worker generates a synthetic set of the shape (:mod:`bench.synthetic`; the full 138,493 x
26,744 catalogue with fewer interactions than ML-20M's 20M, 2M by default, so that generation
and the fits stay short), holds out one random interaction per user
(``leave_one_out(time_col=None)``), fits MF and NeuMF (default sizes, ``pretrain=False``) for a
few trainer batches with one negative per positive (the quality is irrelevant, the network
shapes are what is measured) and times, for each model:

- ``full``: ``evaluate(test, n_negatives=None)``, full ranking of every test user (or of a
  random subset, ``--users``);
- ``recommend``: ``recommend(users, k=10)`` for the same users;
- ``candidates``: ``evaluate(test, candidates=frame)`` on 100 candidates per user (the target
  and 99 sampled negatives), the frame built beforehand.

A phase is timed as the best of up to three calls, calling again while the calls so far took
less than ``REPEAT_BELOW_S`` (10) seconds in all, at both shapes alike. Each phase's peak
resident memory (of its first call) is the process's high-water mark over that phase alone:
the kernel's counter (``VmHWM``) is reset before the phase by writing ``5`` to
``/proc/self/clear_refs`` (Linux 4.0+); where that is not possible the figure is the
process-lifetime ``ru_maxrss`` and ``peak_is_lifetime`` says so. The resident memory just
before the phase (data, split, both models, the candidates frame) is reported beside it, so
that the phase's own working memory is the difference.

With a subset of users the block sizes are those of the whole set (they depend on the
catalogue, not on the number of users), so the peak memory is the all-user figure; the time is
extrapolated to all users from two subset sizes (``n`` and ``n // 4``), a fixed cost plus a
cost per user, so that the set-up paid once per call is not multiplied.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from bench.common import MEMORY_TARGET_GB, PARAMS, REPO, Context, Row, fmt_s

K = 10
N_NEGATIVES = 99
DEFAULT_INTERACTIONS_20M = 2_000_000
# phases are timed as the best of up to 3 calls while the calls so far took less than this:
# another job on a shared machine only slows a call down, and the 20M / 1M ratios of single
# calls (NeuMF's at 20M take a few seconds) swung across their target between runs
REPEAT_BELOW_S = 10.0
# the turn protocol between a worker (``--turns``) and :func:`run_both`: before each timed call
# the worker writes TURN on a line of its stdout and reads one line from its stdin, which must
# be GO (any other output of the worker is left alone; its result is its last line)
TURN, GO = "@@scale_eval: turn@@", "go"
_turns = {"on": False}
_calls: list[list[float]] = []  # [start, end] wall-clock seconds of every timed call


# ------------------------------------------------------------------------------------------------
# memory of one phase
# ------------------------------------------------------------------------------------------------


def _status_gb(field: str) -> float | None:
    try:
        text = Path("/proc/self/status").read_text()
    except OSError:
        return None
    found = re.search(rf"^{field}:\s+(\d+) kB", text, flags=re.MULTILINE)
    return int(found.group(1)) * 1024 / 1e9 if found else None


def _rss_gb() -> float:
    rss = _status_gb("VmRSS")
    if rss is not None:
        return rss
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # pragma: no cover


def _reset_peak() -> bool:
    """Reset the kernel's resident high-water mark of this process; False when not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
    except OSError:
        return False
    return _status_gb("VmHWM") is not None


def _peak_gb(reset: bool) -> float:
    peak = _status_gb("VmHWM") if reset else None
    if peak is not None:
        return peak
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9  # Linux: KiB


def _timed(fn: Any) -> tuple[float, Any]:
    """One timed call of ``fn``: its seconds and result. With turns on, the call waits for
    the parent's GO first (see :data:`TURN`); every call's wall-clock span is kept in
    :data:`_calls`."""
    if _turns["on"]:
        sys.stdout.write(TURN + "\n")
        sys.stdout.flush()
        answer = sys.stdin.readline().strip()
        if answer != GO:
            raise RuntimeError(f"expected {GO!r} from the parent on stdin; got {answer!r}")
    wall = time.time()
    start = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - start
    _calls.append([wall, wall + seconds])
    return seconds, result


def _best(fn: Any, first_s: float, *, below: float = REPEAT_BELOW_S, repeat: int = 3) -> float:
    """The shortest of ``first_s`` and up to ``repeat - 1`` more timed calls of ``fn``, made
    while the calls so far took less than ``below`` seconds in all (short phases are noisy)."""
    best, total, runs = first_s, first_s, 1
    while total < below and runs < repeat:
        elapsed, _ = _timed(fn)
        best, total, runs = min(best, elapsed), total + elapsed, runs + 1
    return best


def _phase(fn: Any) -> dict[str, Any]:
    """Seconds (best of a few calls when short), resident memory before, and peak resident
    memory during the first call of ``fn``."""
    gc.collect()
    before = _rss_gb()
    reset = _reset_peak()
    seconds, result = _timed(fn)
    out = {"rss_before_gb": before, "peak_gb": _peak_gb(reset)}
    if not reset:
        out["peak_is_lifetime"] = True
    del result
    out["s"] = _best(fn, seconds)
    return out


# ------------------------------------------------------------------------------------------------
# the worker: one shape, both models
# ------------------------------------------------------------------------------------------------


def _fit(train: Any, model: str, batches: int) -> Any:
    """``model`` with default sizes, fitted for ``batches`` trainer batches only. One negative
    per positive halves the epoch's set-up; evaluation and recommendation do not use it."""
    from bench.common import make_estimator, quiet, stop_after

    est = make_estimator(
        [stop_after(batches)], model=model, pretrain=False, n_epochs=1, n_negatives=1
    )
    with quiet():
        est.fit(train)
    return est


def _users_subset(test: Any, n: int | None, seed: int) -> Any:
    """The test rows of ``n`` random test users (all of them when ``n`` is None or larger)."""
    users = np.unique(test["user"].to_numpy())
    if n is None or n >= len(users):
        return test
    rng = np.random.default_rng(seed)
    chosen = rng.choice(users, size=n, replace=False)
    return test[test["user"].isin(chosen)]


def _timed_users(run: Any, test: Any, n_users: int | None, n_all: int, seed: int) -> dict[str, Any]:
    """``run(test_rows)`` on ``n_users`` random users: the phase's seconds and memory, and the
    seconds extrapolated to all ``n_all`` users (from a second call on a quarter of them)."""
    part = _users_subset(test, n_users, seed)
    n = int(part["user"].nunique())
    out = _phase(lambda: run(part))
    out["users"] = n
    if n >= n_all:
        out["all_users_s"] = out["s"]
        return out
    small = _users_subset(part, max(1, n // 4), seed + 1)
    n_small = int(small["user"].nunique())
    small_s = _best(lambda: run(small), _timed(lambda: run(small))[0])
    per_user = (out["s"] - small_s) / max(1, n - n_small)
    if per_user <= 0:  # noise: fall back to proportional (an upper bound, fixed cost included)
        per_user = out["s"] / n
    out["small_users"], out["small_s"] = n_small, small_s
    out["per_user_s"] = per_user
    out["all_users_s"] = out["s"] + per_user * (n_all - n)
    return out


def worker(
    shape_name: str,
    *,
    n_interactions: int | None,
    users: int | None,
    neumf_users: int | None,
    candidate_users: int | None,
    models: list[str],
    batches: int,
    catalogue: tuple[int | None, int | None] = (None, None),
    seed: int = 0,
) -> dict[str, Any]:
    """All phases of one shape (see the module docstring); a JSON-ready dict. ``catalogue``
    overrides the shape's numbers of users and items (for tests)."""
    from bench.synthetic import ML1M_SHAPE, ML20M_SHAPE, interactions
    from implicit_ncf.sampling import sample_candidates
    from implicit_ncf.splits import leave_one_out

    shape = dict(ML20M_SHAPE if shape_name == "20m" else ML1M_SHAPE)
    for key, value in zip(("n_users", "n_items"), catalogue, strict=True):
        if value is not None:
            shape[key] = value
    if n_interactions is not None:
        shape["n_interactions"] = n_interactions
    elif shape_name == "20m":
        shape["n_interactions"] = DEFAULT_INTERACTIONS_20M
    out: dict[str, Any] = {"shape_name": shape_name, "shape": shape}
    start = time.perf_counter()
    frame = interactions(**shape, seed=seed)
    split = leave_one_out(frame, time_col=None, random_state=seed)
    train, test = split.train, split.test
    del frame, split
    out["prepare_s"] = time.perf_counter() - start
    out["n_train"], out["n_test_users"] = len(train), int(test["user"].nunique())

    fitted: dict[str, Any] = {}
    for model in models:
        start = time.perf_counter()
        fitted[model] = _fit(train, model, batches)
        out[f"fit_{model}_s"] = time.perf_counter() - start
    first = fitted[models[0]]
    out["n_users"], out["n_items"] = int(first.n_users_), int(first.n_items_)
    n_all = out["n_test_users"]

    part = _users_subset(test, candidate_users, seed + 7)
    built: list[Any] = [None]

    def build() -> None:  # sample_candidates, the frame kept (the last one of a repeat)
        built[0] = None
        built[0] = sample_candidates(train, part, n_negatives=N_NEGATIVES, random_state=seed)

    out["candidates_build"] = _phase(build)
    candidates = built.pop()
    out["candidate_rows"] = len(candidates)
    out["candidate_users"] = int(part["user"].nunique())
    out["candidates_gb"] = float(candidates.memory_usage(index=True).sum()) / 1e9

    for model in models:
        est = fitted[model]
        n_users = neumf_users if model == "neumf" and neumf_users is not None else users
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            results = {
                "full": _timed_users(
                    lambda rows, e=est: e.evaluate(rows, k=K, n_negatives=None),
                    test,
                    n_users,
                    n_all,
                    seed + 1,
                ),
                "recommend": _timed_users(
                    lambda rows, e=est: e.recommend(rows["user"].unique(), k=K),
                    test,
                    n_users,
                    n_all,
                    seed + 1,
                ),
                "candidates": _phase(lambda e=est: e.evaluate(part, k=K, candidates=candidates)),
            }
        results["candidates"]["rows"] = len(candidates)
        out[model] = results
    out["rss_end_gb"] = _rss_gb()
    out["calls"] = [list(span) for span in _calls]
    return out


# ------------------------------------------------------------------------------------------------
# both shapes, and their ratios
# ------------------------------------------------------------------------------------------------


def _cells(result: dict[str, Any]) -> float:
    return float(result["n_test_users"]) * float(result["n_items"])


def ratios(big: dict[str, Any], small: dict[str, Any], models: list[str]) -> dict[str, Any]:
    """For each model and phase, ``(t_20M / t_1M) / (size_20M / size_1M)``: all-user seconds
    against the baseline's, scaled by users x items (``full``, ``recommend``) or by candidate
    rows (``candidates``); 1 means exactly linear."""
    out: dict[str, Any] = {}
    for model in models:
        for phase in ("full", "recommend"):
            times = big[model][phase]["all_users_s"] / small[model][phase]["all_users_s"]
            out[f"{model}_{phase}"] = times / (_cells(big) / _cells(small))
        rows = big["candidate_rows"] / small["candidate_rows"]
        times = big[model]["candidates"]["s"] / small[model]["candidates"]["s"]
        out[f"{model}_candidates"] = times / rows
    return out


class _Worker:
    """A worker subprocess taking turns (``--turns``): started, then read until it first asks
    for a turn (its data and models ready) or exits."""

    def __init__(self, args: list[str], stderr: Any) -> None:
        command = [sys.executable, "-m", "bench.scale_eval", *args, "--turns"]
        path = str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")
        self.args, self.stderr, self.lines = args, stderr, []
        self.proc = subprocess.Popen(
            command,
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,  # a file, not a pipe: a worker blocked on a full pipe would hang
            text=True,
        )
        self.waiting = self._read()

    def _read(self) -> bool:
        """Read the worker's output until it asks for a turn (True) or closes it (False)."""
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.rstrip("\n") == TURN:
                return True
            self.lines.append(line)
        return False

    def grant(self) -> None:
        """Let the waiting worker make its timed call; return when it asks again or ends."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(GO + "\n")
        self.proc.stdin.flush()
        self.waiting = self._read()

    def result(self) -> dict[str, Any]:
        """The worker's JSON result (its last line of output), once it has exited."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        code = self.proc.wait()
        if code != 0 or not self.lines:
            self.stderr.seek(0)
            raise RuntimeError(
                f"bench.scale_eval {self.args} failed ({code}):\n{self.stderr.read()}"
            )
        result: dict[str, Any] = json.loads(self.lines[-1])
        return result

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def run_pair(big_args: list[str], small_args: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The two workers taking turns (module docstring): the first prepares, then the second,
    then their timed calls alternate; both results."""
    with tempfile.TemporaryFile("w+") as big_err, tempfile.TemporaryFile("w+") as small_err:
        workers: list[_Worker] = []
        try:
            workers.append(_Worker(big_args, big_err))
            if not workers[0].waiting:  # failed (or nothing to time) before its first call
                workers[0].result()
            workers.append(_Worker(small_args, small_err))
            while any(worker.waiting for worker in workers):
                for worker in workers:
                    if worker.waiting:
                        worker.grant()
            big, small = (worker.result() for worker in workers)
        finally:
            for worker in workers:
                worker.stop()
    return big, small


def run_both(
    *,
    users: int | None = None,
    neumf_users: int | None = None,
    candidate_users: int | None = None,
    baseline_users: int | None = None,
    interactions: int | None = None,
    models: str = "mf,neumf",
    batches: int = 2,
    threads: int | None = None,
    params: dict[str, Any] | None = None,
    shape_args: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The 20M-shaped worker and the 1M-shaped one, each in a subprocess, taking turns
    (:func:`run_pair`); their ratios. ``shape_args``: more worker arguments per shape (``"20m"``,
    ``"1m"``), e.g. ``--shape-users`` for a small catalogue in tests."""
    common = ["--models", models, "--batches", str(batches)]
    if threads:
        common += ["--threads", str(threads)]
    if params:
        common += ["--params", json.dumps(params)]
    big_args = ["--shape", "20m", *common]
    for flag, value in (
        ("--users", users),
        ("--neumf-users", neumf_users),
        ("--candidate-users", candidate_users),
        ("--interactions", interactions),
    ):
        if value is not None:
            big_args += [flag, str(value)]
    small_args = ["--shape", "1m", *common]
    if baseline_users is not None:
        small_args += ["--users", str(baseline_users), "--candidate-users", str(baseline_users)]
    big_args += (shape_args or {}).get("20m", [])
    small_args += (shape_args or {}).get("1m", [])
    big, small = run_pair(big_args, small_args)
    names = models.split(",")
    return {"20m": big, "1m": small, "ratios": ratios(big, small, names)}


# ------------------------------------------------------------------------------------------------
# the rows of ``python -m bench`` (the "scale" family)
# ------------------------------------------------------------------------------------------------

# users per phase by benchmark mode: quick mode ranks subsets (its budget is three minutes for
# every row), full mode all users except NeuMF's full ranking and recommend at 20M (3.7e9
# tower evaluations each, minutes on two cores), extrapolated from 20,000 users
SETTINGS: dict[str, dict[str, Any]] = {
    "quick": {
        "users": 1000,
        "neumf_users": 1500,  # 400 let the extrapolated ratio swing by 0.3 between runs
        "candidate_users": 2000,
        "baseline_users": 1000,
        "batches": 1,
    },
    "full": {"neumf_users": 20_000, "batches": 2},
}
RATIO_TARGET = 1.25  # per-cell time at 20M against 1M: within 25% of linear scaling


def _users_note(
    big: dict[str, Any], small: dict[str, Any], b: dict[str, Any], s: dict[str, Any]
) -> str:
    """Which users a phase ranked at each shape (``b`` at 20M, ``s`` at 1M)."""

    def part(result: dict[str, Any], phase: dict[str, Any]) -> str:
        n, n_all = phase["users"], result["n_test_users"]
        text = f"{n:,} of {n_all:,} users x {result['n_items']:,} items"
        if n < n_all:
            text += (
                f" in {fmt_s(phase['s'])} (and {phase['small_users']:,} users for the fixed "
                "cost), extrapolated to all"
            )
        return text

    return f"20M: {part(big, b)}; 1M: {part(small, s)}"


def rows_from(result: dict[str, Any], *, subset_note: str = "") -> list[Row]:
    """The table rows of a :func:`run_both` result."""
    big, small, ratio = result["20m"], result["1m"], result["ratios"]
    models = [name for name in ("mf", "neumf") if name in big]
    shape = big["shape"]
    desc = (
        f"synthetic {shape['n_users']:,} users x {shape['n_items']:,} items, "
        f"{shape['n_interactions'] / 1e6:.3g}M interactions, one held out per user; models fitted "
        f"for a few batches (the shapes are measured, not the quality)"
    )
    if subset_note:
        desc += f"; {subset_note}"
    rows: list[Row] = []
    label = {"mf": "MF", "neumf": "NeuMF"}
    for name in models:
        for phase, what in (
            ("full", "evaluate, full ranking"),
            ("recommend", "recommend top-10, all users"),
        ):
            b, s = big[name][phase], small[name][phase]
            value = ratio[f"{name}_{phase}"]
            rows.append(
                Row(
                    f"scale 20M: {label[name]} {what}",
                    fmt_s(b["all_users_s"]),
                    f"1M shape {fmt_s(s['all_users_s'])}",
                    value,
                    f"<= {RATIO_TARGET:.2f}",
                    value <= RATIO_TARGET,
                    notes=[
                        _users_note(big, small, b, s)
                        + "; ratio = (t_20M / t_1M) / (users x items, 20M / 1M): 1 is linear; "
                        + f"peak RSS {b['peak_gb']:.2f} GB ({b['rss_before_gb']:.2f} GB before); "
                        + desc
                    ],
                )
            )
        b, s = big[name]["candidates"], small[name]["candidates"]
        build = big["candidates_build"]
        value = ratio[f"{name}_candidates"]
        rows.append(
            Row(
                f"scale 20M: {label[name]} evaluate, 100 candidates/user",
                fmt_s(b["s"]),
                f"1M shape {fmt_s(s['s'])}",
                value,
                "",
                None,  # no target: the cost per row depends on the tables' cache residency
                notes=[
                    f"{big['candidate_rows']:,} candidate rows ({big['candidate_users']:,} users, "
                    f"frame {big['candidates_gb']:.2f} GB, built by sample_candidates in "
                    f"{fmt_s(build['s'])}, peak {build['peak_gb']:.2f} GB) against "
                    f"{small['candidate_rows']:,} at 1M; ratio = (t_20M / t_1M) / (rows, 20M / "
                    f"1M); peak RSS {b['peak_gb']:.2f} GB ({b['rss_before_gb']:.2f} GB before)"
                    "; no target: each row gathers a user's and an item's embedding rows, and the "
                    "20M tables (138,493 + 26,744 rows) do not stay in cache as the 1M ones do, so "
                    "a row costs more there (1.2-1.5x measured) while memory stays bounded"
                ],
            )
        )
    phases = [(name, phase) for name in models for phase in ("full", "recommend", "candidates")]
    peaks = {key: big[key[0]][key[1]] for key in phases}
    worst = max(peaks, key=lambda key: peaks[key]["peak_gb"])
    peak, before = peaks[worst]["peak_gb"], peaks[worst]["rss_before_gb"]
    lifetime = any(p.get("peak_is_lifetime") for p in peaks.values())
    listed = ", ".join(
        f"{label[n]} {ph} {p['peak_gb']:.2f} (+{p['peak_gb'] - p['rss_before_gb']:.2f})"
        for (n, ph), p in peaks.items()
    )
    rows.append(
        Row(
            "scale 20M: evaluation peak memory",
            f"{peak:.2f} GB",
            f"before {before:.2f} GB",
            peak / before,
            f"<= {MEMORY_TARGET_GB:.0f} GB",
            peak <= MEMORY_TARGET_GB,
            notes=[
                f"largest peak resident memory of the phases (GB, + over the process before the "
                f"phase: data, split, both models, the candidates frame): {listed}; "
                + (
                    "ru_maxrss (process lifetime: the high-water mark could not be reset)"
                    if lifetime
                    else "VmHWM reset before each phase (/proc/self/clear_refs)"
                )
                + "; a subset of users ranks in the blocks of all users (the same peak), "
                + f"the candidates phase holds a score per row ({big['candidate_rows']:,} rows)"
            ],
        )
    )
    return rows


def scale_eval_rows(ctx: Context, threads: int | None) -> list[Row]:
    """The evaluation rows of the "scale" family: :func:`run_both` in subprocesses, sized by
    the benchmark mode (:data:`SETTINGS`)."""
    settings = dict(SETTINGS.get(ctx.mode.name, SETTINGS["quick"]))
    result = run_both(threads=threads, params=dict(PARAMS) or None, **settings)
    ctx.results["scale_eval"] = result
    note = ""
    if ctx.mode.name != "full":
        note = (
            f"{ctx.mode.name} mode: random subsets of users ({settings['users']:,} for MF, "
            f"{settings['neumf_users']:,} for NeuMF, {settings['candidate_users']:,} with "
            f"candidates; {settings['baseline_users']:,} at 1M)"
        )
    return rows_from(result, subset_note=note)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--shape", choices=("20m", "1m"), default=None, help="one worker only")
    parser.add_argument("--users", type=int, default=None, help="users ranked (default: all)")
    parser.add_argument("--neumf-users", type=int, default=None, help="NeuMF's (default: --users)")
    parser.add_argument("--candidate-users", type=int, default=None, help="default: all")
    parser.add_argument(
        "--baseline-users", type=int, default=None, help="users of the 1M shape (default: all)"
    )
    parser.add_argument("--interactions", type=int, default=None, help="default: 2M at 20M")
    parser.add_argument("--shape-users", type=int, default=None, help="catalogue users (tests)")
    parser.add_argument("--shape-items", type=int, default=None, help="catalogue items (tests)")
    parser.add_argument("--models", default="mf,neumf")
    parser.add_argument("--batches", type=int, default=2, help="trainer batches per fit")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--params", type=json.loads, default={}, help="NeuralCF parameters (JSON)")
    parser.add_argument(
        "--turns", action="store_true", help="one worker: take turns with the parent (run_pair)"
    )
    args = parser.parse_args(argv)

    if args.shape is None:
        result = run_both(
            users=args.users,
            neumf_users=args.neumf_users,
            candidate_users=args.candidate_users,
            baseline_users=args.baseline_users,
            interactions=args.interactions,
            models=args.models,
            batches=args.batches,
            threads=args.threads,
            params=args.params,
        )
        print(json.dumps(result))
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from bench.common import PARAMS

    PARAMS.update(args.params)
    _turns["on"] = args.turns
    result = worker(
        args.shape,
        n_interactions=args.interactions,
        users=args.users,
        neumf_users=args.neumf_users,
        candidate_users=args.candidate_users,
        models=args.models.split(","),
        batches=args.batches,
        catalogue=(args.shape_users, args.shape_items),
    )
    result["threads"] = torch.get_num_threads()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
