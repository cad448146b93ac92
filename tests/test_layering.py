"""Layering (DESIGN.md): archive/ imports nothing from crawlers/, pipelines/, scheduler or cli,
and nothing from Scrapy, so it stays usable on its own."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = ("crawlers", "pipelines", "scheduler", "cli", "scrapy", "twisted")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_archive_imports_nothing_from_the_layers_above():
    modules = sorted((ROOT / "archive").glob("*.py"))
    assert modules
    for path in modules:
        bad = {name for name in _imports(path)
               if name in FORBIDDEN or name.startswith("cli_")}
        assert not bad, f"{path.name} imports {sorted(bad)}"


def test_example_seeds_are_valid():
    from archive.config import load_seeds

    for path in sorted((ROOT / "seeds").glob("*.toml")):
        sources = load_seeds(path)
        assert sources and all(s.url.startswith("https://") for s in sources)
