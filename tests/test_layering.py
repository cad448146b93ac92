"""The house (DESIGN.md "Layout"): no import cycles, no arrow against the layers, one home for
each name, modules of a readable size, and subpackages that say what they promise.

Every import counts (tests/support/layering.py): inside functions, under ``TYPE_CHECKING``,
relative ones and ``importlib.import_module`` with a literal name; the second half of this file
shows on small trees of its own that each kind is caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.layering import (
    ARCHIVE_LAYERS,
    FIRST_PARTY,
    borrowed_names,
    find_modules,
    problems,
)

ROOT = Path(__file__).resolve().parent.parent
MAX_LINES = 400          # "modules stay under about 400 lines"
MAX_ROOT_MODULES = 10    # the archive/ root keeps only small shared modules


def test_no_cycle_and_no_arrow_against_the_layers():
    assert problems(ROOT) == []


def test_every_name_is_imported_from_its_home():
    assert borrowed_names(ROOT) == []


def test_modules_stay_small():
    big = {name: n for name, path in find_modules(ROOT).items()
           if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert big == {}


def test_the_archive_root_keeps_only_small_shared_modules():
    root_modules = sorted(p.name for p in (ROOT / "archive").glob("*.py"))
    assert len(root_modules) <= MAX_ROOT_MODULES, root_modules


@pytest.mark.parametrize("package", sorted({name for group in ARCHIVE_LAYERS for name in group}
                                           - {"root", "config"}))
def test_each_archive_subpackage_says_what_it_promises_and_may_import(package):
    init = ROOT / "archive" / package / "__init__.py"
    tree = ast.parse(init.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    assert "Promises:" in doc and "May import:" in doc, init
    assert all(isinstance(node, ast.Expr) for node in tree.body), f"{init} does more than say"


def test_every_subpackage_has_a_docstring():
    for top in FIRST_PARTY:
        for init in (ROOT / top).rglob("__init__.py") if (ROOT / top).is_dir() else ():
            assert ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))), init


def test_example_seeds_are_valid():
    from archive.seeds import load_seeds

    for path in sorted((ROOT / "seeds").glob("*.toml")):
        sources = load_seeds(path)
        assert sources and all(s.url.startswith("https://") for s in sources)


# --- the checker catches what it must, on small trees of its own ------------------------------

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    for folder in {p.parent for p in tmp_path.rglob("*.py")}:
        if folder != tmp_path and not (folder / "__init__.py").exists():
            (folder / "__init__.py").write_text('"""x."""\n', encoding="utf-8")
    return tmp_path


def test_a_cycle_through_an_import_inside_a_function_is_found(tmp_path):
    root = _tree(tmp_path, {
        "archive/warc/a.py": "from archive.warc.b import x\n",
        "archive/warc/b.py": "x = 1\n\ndef late():\n    from archive.warc import a\n",
    })
    assert problems(root) == ["import cycle: archive.warc.a -> archive.warc.b"]


def test_a_cycle_under_type_checking_is_found(tmp_path):
    root = _tree(tmp_path, {
        "archive/writer/a.py": "from archive.writer.b import B\nclass A: ...\n",
        "archive/writer/b.py": ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                "    from .a import A\nclass B: ...\n"),
    })
    assert problems(root) == ["import cycle: archive.writer.a -> archive.writer.b"]


def test_a_cycle_through_a_literal_import_module_is_found(tmp_path):
    root = _tree(tmp_path, {
        "crawlers/a.py": "import crawlers.b\n",
        "crawlers/b.py": "import importlib\nimportlib.import_module('crawlers.a')\n",
    })
    assert problems(root) == ["import cycle: crawlers.a -> crawlers.b"]


def test_a_computed_import_cannot_be_checked(tmp_path):
    root = _tree(tmp_path, {"crawlers/a.py": "import importlib\nname = 'x'\n"
                                             "importlib.import_module(name)\n"})
    [found] = problems(root)
    assert "crawlers.a:3: a computed import_module() cannot be checked" in found


@pytest.mark.parametrize(("files", "expected"), [
    ({"archive/warc/w.py": "def f():\n    from archive.catalogue import db\n",
      "archive/catalogue/db.py": ""},
     "archive.warc.w imports archive.catalogue.db (line 2, function): archive.warc may not "
     "import archive.catalogue"),
    ({"archive/web/ui.py": "from archive.writer.pages import P\n",
      "archive/writer/pages.py": "P = 1\n"},
     "archive.web may not import archive.writer"),
    ({"archive/export/x.py": "from ..integrity import check\n",
      "archive/integrity/check.py": ""},
     "archive.export may not import archive.integrity"),
    ({"archive/jobs.py": "from archive.config import Config\n",
      "archive/config.py": "Config = 1\n"},
     "archive.root may not import archive.config"),
    ({"archive/text/t.py": "import scrapy\n"},
     "archive/ must stay usable without Scrapy"),
    ({"archive/detect/d.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                             "    from crawlers.items import PageItem\n",
      "crawlers/items.py": "PageItem = 1\n"},
     "(line 3, type-checking): archive/ imports nothing from crawlers"),
    ({"crawlers/fast.py": "from pipelines.catalogue import CataloguePipeline\n",
      "pipelines/catalogue.py": "CataloguePipeline = 1\n"},
     "crawlers may import only archive, crawlers"),
])
def test_arrows_against_the_layers_are_found(tmp_path, files, expected):
    found = problems(_tree(tmp_path, files))
    assert len(found) == 1 and expected in found[0], found


def test_arrows_with_the_layers_pass(tmp_path):
    root = _tree(tmp_path, {
        "archive/timeutil.py": "",
        "archive/warc/w.py": "from archive import timeutil\n",
        "archive/web/ui.py": ("from archive.export import wacz\nfrom archive.warc import w\n"
                              "from archive.config import C\n"),
        "archive/export/wacz.py": "from archive.catalogue.db import D\n",
        "archive/catalogue/db.py": "from archive.config import C\nD = 1\n",
        "archive/config.py": "from archive.detect.state import S\nC = 1\n",
        "archive/detect/state.py": "S = 1\n",
        "crawlers/spider.py": "from archive.catalogue.db import D\n",
        "pipelines/p.py": "from crawlers import spider\n",
        "cli/__init__.py": '"""x."""\nimport scheduler\nfrom crawlers import spider\n',
        "scheduler.py": "from archive.config import C\n",
    })
    assert problems(root) == []


def test_a_name_borrowed_from_a_module_that_only_imports_it_is_found(tmp_path):
    root = _tree(tmp_path, {
        "archive/warc/writer.py": "from archive.warc.http import Exchange\n",
        "archive/warc/http.py": "class Exchange: ...\n",
        "crawlers/rec.py": "from archive.warc.writer import Exchange\n",
    })
    assert borrowed_names(root) == [
        "crawlers.rec:1 imports Exchange from archive.warc.writer, which only imports it: "
        "import it from its home"]
