"""Sphinx configuration of the implicit_ncf documentation (``make docs``).

Sphinx with numpydoc, because the docstrings are numpydoc (the house style): numpydoc renders
their Parameters / Returns / Raises / See Also / Notes / Examples sections as written, and
autosummary gives every public object a page of its own. The Markdown guides in ``docs/*.md``
are read with myst-parser, and the figures of the Plots page are drawn at build time by the
plot directive from the embedded data, so they are real outputs of ``implicit_ncf.plotting``.

The API pages are generated here, before Sphinx reads anything, into ``docs/api/`` (not
tracked): one page per public module, listing its public classes and functions, and through
autosummary one page per object and per public method. Which objects are public is decided by
:func:`api_modules`; ``tests/test_docs.py`` checks the rules without building.

The docstring examples run as doctests with ``pytest --doctest-modules implicit_ncf`` (the
``docs`` target runs it before this build): the examples are checked where they are written,
against the installed package, without a second Sphinx pass.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))  # figures.py, imported by the plots page

import implicit_ncf  # noqa: E402

project = "implicit_ncf"
author = "implicit_ncf developers"
copyright = "implicit_ncf developers"
release = version = implicit_ncf.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_parser",
    "matplotlib.sphinxext.plot_directive",
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
html_theme = "alabaster"
html_theme_options = {
    "description": "Neural Collaborative Filtering for implicit feedback",
    "fixed_sidebar": True,
    "page_width": "1180px",
    "sidebar_width": "270px",
}
html_static_path: list[str] = []

# autodoc / autosummary / numpydoc
autosummary_generate = True
autodoc_inherit_docstrings = False  # Lightning's and torch's docstrings are not ours to render
autodoc_member_order = "bysource"
autodoc_typehints = "none"  # numpydoc's Parameters sections carry the types
numpydoc_show_class_members = False  # the class template lists the documented members
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = True

# myst: heading anchors so that the guides' "#section" links resolve
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# plot directive: figures drawn when the docs are built
plot_include_source = True
plot_html_show_source_link = False
plot_html_show_formats = False
plot_formats = [("png", 100)]
plot_rcparams = {"figure.dpi": 100}
plot_working_directory = str(HERE)

# ---------------------------------------------------------------------------------------------
# the API pages
# ---------------------------------------------------------------------------------------------

# Modules without a page of their own, and why.
UNDOCUMENTED = {
    "implicit_ncf.__main__": "the command line, documented on the command-line page",
    "implicit_ncf.cli": "the command line, documented on the command-line page",
    "implicit_ncf.batches": "internal: how training batches are built",
    "implicit_ncf.model": "compatibility re-exports of networks and training",
}
# Objects of ``implicit_ncf.__all__`` from these modules are documented as ``implicit_ncf.X``;
# the others (``leave_one_out``, ``load_movielens``, ...) on their module's page.
TOP_LEVEL_HOMES = ("implicit_ncf.estimator", "implicit_ncf.popularity", "implicit_ncf.recommender")


def _is_private(name: str) -> bool:
    return any(part.startswith("_") for part in name.split("."))


def _public_names(module: Any) -> list[str]:
    """Classes and functions a module offers: its ``__all__``, else what it defines."""
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            name
            for name, obj in vars(module).items()
            if not name.startswith("_") and getattr(obj, "__module__", None) == module.__name__
        ]
    out = []
    for name in names:
        obj = getattr(module, name, None)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            out.append(name)
    return out


def _canonical_here(obj: Any, module_name: str) -> bool:
    """Whether ``obj`` may be documented on ``module_name``'s page: it is defined there or in a
    module below it that the page's module re-exports (``metrics.ranking`` -> ``metrics``)."""
    home = getattr(obj, "__module__", "") or ""
    return home == module_name or home.startswith(module_name + ".")


def api_modules() -> list[tuple[str, list[str]]]:
    """``[(module, [public object names documented on its page]), ...]``, top level first.

    Each object is documented once, on the page of the shortest public module path that
    exports it: ``implicit_ncf.metrics.ndcg_at_k``, not ``implicit_ncf.metrics.ranking``'s;
    ``implicit_ncf.NeuralCF`` for the estimators. A module whose objects are all documented
    above it (``metrics.ranking``) gets no page of its own.
    """
    top = [
        name
        for name in _public_names(implicit_ncf)
        if getattr(getattr(implicit_ncf, name), "__module__", "") in TOP_LEVEL_HOMES
    ]
    claimed = {id(getattr(implicit_ncf, name)) for name in top}
    pages: list[tuple[str, list[str]]] = [("implicit_ncf", top)]
    names = sorted(
        (
            m.name
            for m in pkgutil.walk_packages(implicit_ncf.__path__, prefix="implicit_ncf.")
            if not _is_private(m.name) and m.name not in UNDOCUMENTED
        ),
        key=lambda name: (name.count("."), name),
    )
    for module_name in names:
        module = importlib.import_module(module_name)
        objects = [
            name
            for name in _public_names(module)
            if id(getattr(module, name)) not in claimed
            and _canonical_here(getattr(module, name), module_name)
        ]
        claimed.update(id(getattr(module, name)) for name in objects)
        if objects:
            pages.append((module_name, objects))
    return pages


def _documented_members(cls: type) -> list[str]:
    """Public methods and properties of ``cls`` with a docstring of their own, defined in the
    class or in one of the package's base classes (not Lightning's or torch's)."""
    members = []
    for name in sorted(dir(cls)):
        if name.startswith("_"):
            continue
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if owner is None or not (owner.__module__ or "").startswith("implicit_ncf"):
            continue
        raw = vars(owner)[name]
        func = raw.__func__ if isinstance(raw, classmethod | staticmethod) else raw
        if isinstance(func, property):
            func = func.fget
        if not (inspect.isfunction(func) and (func.__doc__ or "").strip()):
            continue
        members.append(name)
    return members


def _title(text: str, char: str = "=") -> str:
    return f"{text}\n{char * len(text)}\n"


def write_api_pages(out: Path = HERE / "api") -> dict[str, list[str]]:
    """Write ``docs/api/<module>.rst`` for every API module; returns the class members map
    the autosummary class template reads (``api_members``)."""
    out.mkdir(exist_ok=True)
    members: dict[str, list[str]] = {}
    written = set()
    for module_name, objects in api_modules():
        module = importlib.import_module(module_name)
        lines = [
            _title(f"``{module_name}``"),
            f".. automodule:: {module_name}",
            "   :no-members:",
            "",
        ]
        lines += [f".. currentmodule:: {module_name}", ""]
        groups: dict[str, list[str]] = {"Classes": [], "Functions": []}
        for name in objects:
            obj = getattr(module, name)
            groups["Classes" if inspect.isclass(obj) else "Functions"].append(name)
            if inspect.isclass(obj):
                members[f"{module_name}.{name}"] = _documented_members(obj)
        for heading, names in groups.items():
            if not names:
                continue
            lines += [_title(heading, "-"), ".. autosummary::", "   :toctree: generated", ""]
            lines += [f"   {name}" for name in names]
            lines.append("")
        if module_name == "implicit_ncf":
            linked = [n for n in _public_names(implicit_ncf) if n not in objects]
            if linked:
                lines += [_title("Also exported here", "-")]
                for name in linked:
                    obj = getattr(implicit_ncf, name)
                    role = "class" if inspect.isclass(obj) else "func"
                    lines.append(f"- :{role}:`{name} <{obj.__module__}.{name}>`")
                lines.append("")
        page = out / f"{module_name}.rst"
        text = "\n".join(lines)
        if not page.exists() or page.read_text() != text:  # unchanged pages keep their mtime
            page.write_text(text)
        written.add(page.name)
    for stale in out.glob("*.rst"):
        if stale.name not in written:
            stale.unlink()
    return members


# Filled when Sphinx starts (config-inited), so that importing this file has no side effect.
autosummary_context: dict[str, Any] = {"api_members": {}}
API_PAGES: list[str] = []


def _guides() -> list[str]:
    """The Markdown guides in docs/, in reading order (new ones at the end, by name)."""
    order = [
        "evaluation",
        "results",
        "performance",
        "robustness",
        "scaling",
        "realtime",
        "architecture",
    ]
    found = sorted(p.stem for p in HERE.glob("*.md"))
    return [g for g in order if g in found] + [g for g in found if g not in order]


def _fill_toctrees(app: Any, docname: str, source: list[str]) -> None:
    """Replace the ``.. guides-here`` and ``.. api-pages-here`` markers with page lists."""
    text = source[0]
    if ".. guides-here" in text:
        text = text.replace(".. guides-here", "\n".join(f"   {g}" for g in _guides()))
    if ".. api-pages-here" in text:
        text = text.replace(".. api-pages-here", "\n".join(f"   api/{p}" for p in API_PAGES))
    source[0] = text


def _generate_api(app: Any, config: Any) -> None:
    """Write the API pages before autosummary reads them (it runs at builder-inited)."""
    config.autosummary_context["api_members"] = write_api_pages()
    API_PAGES[:] = [name for name, _ in api_modules()]


def _unlink_metric_names(app: Any, doctree: Any) -> None:
    """docutils reads ``HR@10`` or ``NDCG@k`` in running text as an e-mail address; keep such
    metric names as plain text instead of ``mailto:`` links."""
    import re

    from docutils import nodes

    metric = re.compile(r"[\w./@]+@(\d+|k|K)")  # HR@10, HR@10/NDCG@10, NDCG@k
    for node in list(doctree.findall(nodes.reference)):
        text = node.astext()
        if node.get("refuri", "").startswith("mailto:") and metric.fullmatch(text):
            node.replace_self(nodes.Text(text))


def setup(app: Any) -> dict[str, Any]:
    app.connect("config-inited", _generate_api)
    app.connect("source-read", _fill_toctrees)
    app.connect("doctree-read", _unlink_metric_names)
    os.environ.setdefault("MPLBACKEND", "Agg")
    return {"parallel_read_safe": True}
