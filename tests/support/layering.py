"""Read every import of memoryhole's own modules and check them against DESIGN.md "Layout".

Every import counts: at the top of a module, inside functions and methods, under
``if TYPE_CHECKING:``, in ``try`` blocks, and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a literal name (one with a computed name is reported, since it
cannot be checked). ``from pkg import name`` is an import of ``pkg.name`` when that is a module,
else of ``pkg``; importing ``a.b.c`` imports ``a`` and ``a.b`` too, as Python does.

:func:`problems` returns one line per cycle and per arrow that goes against the layering.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

# The application's own top-level names (packages, or modules beside them).
FIRST_PARTY = ("archive", "crawlers", "pipelines", "cli", "scheduler", "demosite")

# archive/ in layers. A module may import its own layer and the layers before it; the lateral
# exceptions are listed in ARCHIVE_ALSO. "root" is archive/__init__ and its small shared modules,
# but config.py and seeds.py, which validate a config and seed files with the rules of the
# parts that own them (the platforms' URL checks, the WARC compressions, the re-check schedule's
# defaults) and so sit after them.
ARCHIVE_LAYERS = (
    ("root",),
    ("warc",),
    ("text",),
    ("platforms",),
    ("detect",),
    ("config",),
    ("catalogue",),
    ("analysis",),                          # statistics over catalogue reads (survival, report)
    ("writer", "integrity", "export"),      # siblings: none imports another
    ("cluster",),                           # Redis Streams workers: on top of the writer
    ("web",),                               # a leaf
)
ARCHIVE_ALSO = {"web": {"export"}}          # the UI offers evidence bundles and WACZ downloads
ARCHIVE_NOT = {"web": {"writer", "integrity"}}   # the read side never imports the write side

# Who may import whom outside archive/ (archive itself imports none of these).
APP_MAY_IMPORT = {
    "crawlers": {"archive", "crawlers"},
    "pipelines": {"archive", "crawlers", "pipelines"},
    "scheduler": {"archive", "crawlers", "scheduler"},
    "demosite": {"archive", "crawlers", "demosite"},
    "cli": {"archive", "crawlers", "scheduler", "demosite", "cli"},
}
# Never imported by archive/: it must stay usable without Scrapy or a web framework's crawl side.
ARCHIVE_FORBIDDEN_THIRD_PARTY = ("scrapy", "twisted", "scrapy_playwright", "playwright")


@dataclass(frozen=True)
class Import:
    source: str          # importing module
    target: str          # imported module (or package)
    line: int
    where: str           # "top", "function", "type-checking"
    implicit: bool = False  # a parent package that importing ``target``'s module imports too


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def find_modules(root: Path, tops: Iterable[str] = FIRST_PARTY) -> dict[str, Path]:
    """Every first-party module under ``root``: packages walked whole, single-file modules."""
    modules: dict[str, Path] = {}
    for top in tops:
        package = root / top
        if package.is_dir():
            for path in sorted(package.rglob("*.py")):
                if "__pycache__" not in path.parts:
                    modules[module_name(root, path)] = path
        elif (root / f"{top}.py").is_file():
            modules[top] = root / f"{top}.py"
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class _Reader(ast.NodeVisitor):
    def __init__(self, name: str, is_package: bool, modules: set[str]) -> None:
        self.name = name
        self.package = name if is_package else name.rpartition(".")[0]
        self.modules = modules
        self.found: list[Import] = []
        self.errors: list[str] = []
        self._where = ["top"]

    def _add(self, target: str, line: int) -> None:
        self.found.append(Import(self.name, target, line, self._where[-1]))

    def _nested(self, node: ast.AST, where: str) -> None:
        self._where.append(where)
        self.generic_visit(node)
        self._where.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:  # noqa: N802 - ast API
        self._nested(node, "function")

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815
    visit_Lambda = visit_FunctionDef  # noqa: N815

    def visit_If(self, node: ast.If) -> None:  # noqa: N802
        if _is_type_checking(node.test):
            self._nested(node, "type-checking")
        else:
            self.generic_visit(node)

    def visit_Import(self, node: ast.Import) -> None:  # noqa: N802
        for alias in node.names:
            self._add(alias.name, node.lineno)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:  # noqa: N802
        if node.level:
            base = self.package.split(".") if self.package else []
            if node.level > 1:
                base = base[: len(base) - (node.level - 1)]
            module = ".".join(base + ([node.module] if node.module else []))
        else:
            module = node.module or ""
        for alias in node.names:
            candidate = f"{module}.{alias.name}"
            self._add(candidate if candidate in self.modules else module, node.lineno)

    def visit_Call(self, node: ast.Call) -> None:  # noqa: N802
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
        if name in ("import_module", "__import__") and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                self._add(arg.value, node.lineno)
            else:
                self.errors.append(f"{self.name}:{node.lineno}: a computed {name}() cannot be "
                                   "checked; import the module by name")
        self.generic_visit(node)


def read_imports(root: Path, modules: dict[str, Path] | None = None
                 ) -> tuple[list[Import], list[str]]:
    """Every import between first-party modules (parent packages included), and the imports
    that cannot be checked."""
    modules = modules if modules is not None else find_modules(root)
    names = set(modules)
    imports: list[Import] = []
    errors: list[str] = []
    for name, path in modules.items():
        reader = _Reader(name, path.name == "__init__.py", names)
        reader.visit(ast.parse(path.read_text(encoding="utf-8"), str(path)))
        errors += reader.errors
        for imp in reader.found:
            parts = imp.target.split(".")
            if parts[0] not in FIRST_PARTY and parts[0] not in names:
                imports.append(imp)           # third party: kept for the forbidden check
                continue
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                implicit = i < len(parts)
                if target not in names or target == name:
                    continue
                if implicit and (name + ".").startswith(target + "."):
                    continue          # a package of the importer's own: already imported
                imports.append(Import(name, target, imp.line, imp.where, implicit))
    return imports, errors


def cycles(imports: Iterable[Import], names: Iterable[str]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted."""
    graph: dict[str, set[str]] = {name: set() for name in names}
    for imp in imports:
        if imp.target in graph:
            graph[imp.source].add(imp.target)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def connect(start: str) -> None:
        nonlocal counter
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(sorted(group))

    for name in sorted(graph):
        if name not in index:
            connect(name)
    return sorted(found)


def archive_layer(module: str) -> str:
    """The layer of an ``archive`` module: its subpackage, ``config``, or ``root``."""
    parts = module.split(".")
    packages = {name for group in ARCHIVE_LAYERS for name in group} - {"root"}
    if len(parts) > 1 and parts[1] in packages:
        return parts[1]
    if len(parts) == 2 and parts[1] == "seeds":      # seed files: validated like the config
        return "config"
    return "root"


def _rank(layer: str) -> int:
    for rank, group in enumerate(ARCHIVE_LAYERS):
        if layer in group:
            return rank
    raise KeyError(layer)


def layer_violations(imports: Iterable[Import]) -> list[str]:
    """Arrows against DESIGN.md's order, one line each."""
    bad = []
    for imp in imports:
        if imp.implicit:
            continue
        source_top, target_top = imp.source.split(".")[0], imp.target.split(".")[0]
        at = f"{imp.source} imports {imp.target} (line {imp.line}, {imp.where})"
        if source_top == "archive":
            if target_top in ARCHIVE_FORBIDDEN_THIRD_PARTY:
                bad.append(f"{at}: archive/ must stay usable without Scrapy and a browser")
                continue
            if target_top not in FIRST_PARTY:
                continue
            if target_top != "archive":
                bad.append(f"{at}: archive/ imports nothing from crawlers, pipelines, "
                           "scheduler, cli or demosite")
                continue
            source, target = archive_layer(imp.source), archive_layer(imp.target)
            if source == target:
                continue
            if target in ARCHIVE_ALSO.get(source, ()) or (
                    _rank(target) < _rank(source) and target not in ARCHIVE_NOT.get(source, ())):
                continue
            bad.append(f"{at}: archive.{source} may not import archive.{target} (layers: "
                       + " < ".join("/".join(group) for group in ARCHIVE_LAYERS) + ")")
        elif source_top in APP_MAY_IMPORT and target_top in FIRST_PARTY:
            if target_top not in APP_MAY_IMPORT[source_top]:
                bad.append(f"{at}: {source_top} may import only "
                           + ", ".join(sorted(APP_MAY_IMPORT[source_top])))
    return sorted(set(bad))


def problems(root: Path) -> list[str]:
    """Every cycle, every arrow against the layering and every import that cannot be checked."""
    modules = find_modules(root)
    imports, errors = read_imports(root, modules)
    found = [f"import cycle: {' -> '.join(group)}" for group in cycles(imports, modules)]
    return found + layer_violations(imports) + errors


def _defined_names(tree: ast.Module) -> tuple[set[str], set[str]]:
    """(names a module defines at its top level, names it only imports)."""
    defined: set[str] = set()
    imported: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for target in targets:
                    for leaf in ast.walk(target):
                        if isinstance(leaf, ast.Name):
                            defined.add(leaf.id)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                for alias in node.names:
                    imported.add((alias.asname or alias.name).split(".")[0])
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                for part in ("body", "orelse", "finalbody"):
                    visit(getattr(node, part, []) or [])
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return defined, imported - defined


def borrowed_names(root: Path, importers: Iterable[str] = FIRST_PARTY + ("tests", "bench")
                   ) -> list[str]:
    """``from X import name`` where X only imports ``name`` from elsewhere: a name has one home,
    and modules import it from the module that owns it (DESIGN.md "Layout"). The application's
    modules are the homes; its tests and benchmarks import from them too."""
    modules = find_modules(root)
    trees = {name: ast.parse(path.read_text(encoding="utf-8"))
             for name, path in find_modules(root, importers).items()}
    homes = {name: _defined_names(trees[name]) for name in modules}
    found = []
    for name, tree in trees.items():
        package = name if name in modules and modules[name].name == "__init__.py" \
            else name.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source not in homes:
                continue
            _, only_imported = homes[source]
            for alias in node.names:
                if alias.name in only_imported and f"{source}.{alias.name}" not in modules:
                    found.append(f"{name}:{node.lineno} imports {alias.name} from {source}, "
                                 "which only imports it: import it from its home")
    return sorted(found)
