"""The documentation site: which objects get API pages and what the pages include (fast, without
building), and the built site itself (slow: ``pytest -m slow tests/test_docs.py``)."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import inspect
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import implicit_ncf

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
# The modules whose public classes and functions the issue lists as public API.
TOOLKIT = ["data", "splits", "sampling", "metrics", "datasets", "networks", "training"]


@pytest.fixture(scope="module")
def conf():
    pytest.importorskip("sphinx")  # conf.py itself imports only the package
    spec = importlib.util.spec_from_file_location("implicit_ncf_docs_conf", DOCS / "conf.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def documented(conf) -> dict[str, object]:
    """Full documented name -> object, over every API page."""
    out: dict[str, object] = {}
    for module_name, names in conf.api_modules():
        module = importlib.import_module(module_name)
        for name in names:
            out[f"{module_name}.{name}"] = getattr(module, name)
    return out


def _public(module) -> list[str]:
    names = getattr(module, "__all__", None) or [
        n
        for n, o in vars(module).items()
        if not n.startswith("_") and getattr(o, "__module__", "") == module.__name__
    ]
    return [
        n
        for n in names
        if inspect.isclass(getattr(module, n)) or inspect.isfunction(getattr(module, n))
    ]


def test_the_pages_the_issue_names_are_generated(documented) -> None:
    for name in (
        "implicit_ncf.NeuralCF",
        "implicit_ncf.splits.leave_one_out",
        "implicit_ncf.metrics.ndcg_at_k",
    ):
        assert name in documented
    assert "implicit_ncf.training.NCFModule" in documented
    assert "implicit_ncf.plotting.plot_metrics" in documented


def test_every_public_object_is_documented_exactly_once(documented) -> None:
    ids = [id(obj) for obj in documented.values()]
    assert len(ids) == len(set(ids)), "an object is documented under two names"
    wanted = {id(getattr(implicit_ncf, n)): f"implicit_ncf.{n}" for n in _public(implicit_ncf)}
    modules = [
        *TOOLKIT,
        *(m for m in ("model_selection",) if importlib.util.find_spec(f"implicit_ncf.{m}")),
    ]
    for short in modules:
        module = importlib.import_module(f"implicit_ncf.{short}")
        for name in _public(module):
            wanted.setdefault(id(getattr(module, name)), f"{module.__name__}.{name}")
    missing = sorted(name for key, name in wanted.items() if key not in set(ids))
    assert not missing, f"public objects without an API page: {missing}"


def test_every_module_has_a_page_or_a_reason(conf, documented) -> None:
    pages = {name for name, _ in conf.api_modules()}
    ids = {id(obj) for obj in documented.values()}
    for info in pkgutil.walk_packages(implicit_ncf.__path__, prefix="implicit_ncf."):
        if info.name in pages or info.name in conf.UNDOCUMENTED:
            continue
        if any(part.startswith("_") for part in info.name.split(".")):
            continue
        module = importlib.import_module(info.name)
        missing = [n for n in _public(module) if id(getattr(module, n)) not in ids]
        assert not missing, (
            f"{info.name} has no API page and {missing} are documented nowhere: give the module "
            "an __all__ or add it to UNDOCUMENTED in docs/conf.py with the reason"
        )


def test_class_pages_list_the_shared_methods_but_not_lightnings(conf) -> None:
    from implicit_ncf import NeuralCF, PopularityRecommender
    from implicit_ncf.training import NCFModule

    expected = {"fit", "recommend", "evaluate", "predict", "score", "get_params", "set_params"}
    assert expected | {"save", "load"} <= set(conf._documented_members(NeuralCF))
    assert expected <= set(conf._documented_members(PopularityRecommender))
    members = set(conf._documented_members(NCFModule))
    assert "direct_steps" in members
    assert not members & {"log", "fit", "print", "trainer", "to", "state_dict"}


def test_readme_has_the_sections_the_quickstart_includes() -> None:
    text = (DOCS / "quickstart.rst").read_text()
    start = re.search(r":start-after: (.+)", text).group(1).strip()
    end = re.search(r":end-before: (.+)", text).group(1).strip()
    readme = (REPO / "README.md").read_text()
    assert start in readme and end in readme
    section = readme[readme.index(start) : readme.index(end)]
    assert "```python" in section and "NeuralCF" in section
    assert "](" not in section, "links in the included README part would not resolve in the docs"


def test_the_command_line_page_lists_every_option() -> None:
    from implicit_ncf.cli import _build_parser

    page = (DOCS / "cli.rst").read_text()
    parser = _build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(commands.choices) == {"train", "recommend", "similar", "evaluate", "demo"}
    for name, sub in commands.choices.items():
        assert f"``{name}``" in page
        for action in sub._actions:
            for option in action.option_strings:
                if option.startswith("--") and option != "--help":
                    assert option in page, f"{name} {option} is not on docs/cli.rst"


@pytest.mark.slow
def test_the_site_builds_with_warnings_as_errors(tmp_path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("numpydoc")
    pytest.importorskip("myst_parser")
    pytest.importorskip("matplotlib")
    out = tmp_path / "html"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-q",
            "-W",
            "--keep-going",
            "-b",
            "html",
            str(DOCS),
            str(out),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    generated = out / "api" / "generated"
    pages = {
        "implicit_ncf.NeuralCF.recommend.html": "Top-",
        "implicit_ncf.splits.leave_one_out.html": "leave_one_out",
        "implicit_ncf.metrics.ndcg_at_k.html": "ndcg_at_k",
        "implicit_ncf.plotting.plot_history.html": "plot_history",
    }
    for page, text in pages.items():
        assert text in (generated / page).read_text(), page
    for guide in DOCS.glob("*.md"):
        assert (out / f"{guide.stem}.html").exists(), guide.name
    plots = (out / "plots.html").read_text()
    images = re.findall(r'<img[^>]+src="([^"]+\.png)"', plots)
    assert len(images) == 2
    for src in images:
        assert (out / src).stat().st_size > 10_000
    quickstart = (out / "quickstart.html").read_text()
    assert "leave_one_out" in quickstart and "NeuralCF" in quickstart  # the README's code
