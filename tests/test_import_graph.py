"""The package's import graph has no cycle, and no function imports an optiscope module.

The graph is read statically: every module under ``src/optiscope`` is parsed with :mod:`ast`
and every import in it (at module level or inside a function; ``if TYPE_CHECKING:`` blocks
excepted) becomes an edge to the module it loads. ``from pkg import name`` loads the submodule
``pkg.name`` when that is a module, else ``pkg``. A module inside ``pkg`` that imports through
``pkg`` depends on the submodule that ``pkg/__init__`` re-exports ``name`` from, not on the
``__init__``: that one imports its own submodules, so counting it would make every package
trivially cyclic.

A function-level ``import optiscope.x`` is how a cycle gets hidden, so none is allowed. Lazy
imports of third-party modules are allowed only for those in :data:`LAZY_THIRD_PARTY`, each with
its reason; the standard library is free.
"""

from __future__ import annotations

import ast
import itertools
import sys
from collections import deque
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = "optiscope"

LAZY_THIRD_PARTY = {
    "imageio_ffmpeg": "an optional extra (optiscope[video]); mp4 export names the pip install that fixes it",
    "torchvision": "not a dependency; only downloading MNIST/CIFAR-10 needs it, and says so when missing",
    "plotly.offline": "its ~4.8 MB plotly.js bundle is read only when a report inlines an interactive figure",
    "rich": "progress bars are drawn only when stderr is a terminal",
    "sklearn": "scikit-learn takes ~0.9 s to import and only the bundled digits data set uses it",
    "scipy.optimize": "takes ~0.25 s to import; only the least-absolute-deviation regression fit uses it",
    "optuna": "an optional extra (optiscope[tune]); the sampler names the pip install that fixes it",
    "ray": "an optional extra (optiscope[ray]); --executor ray names the pip install that fixes it",
}

# Modules that may import optiscope modules inside functions, with the reason. Their lazy imports
# are still edges of the graph, so they cannot hide a cycle.
LAZY_IMPORTERS = {
    "optiscope.cli": "each command imports its study when it runs: `optiscope --help` must not import torch",
    "optiscope.cli_experiments": "as optiscope.cli: `optiscope presets list` must not import torch",
    "optiscope.cli_registry": "as optiscope.cli: `optiscope --help` must not import the registries (torch)",
    "optiscope.cli_serve": "as optiscope.cli; the server also needs the serve extra (FastAPI, uvicorn)",
    "optiscope.cli_tune": "as optiscope.cli: `optiscope --help` must not import torch",
    "optiscope.cli_geometry": "as optiscope.cli: `optiscope --help` must not import torch",
    "optiscope": "optiscope.tune(...) imports the tuning study when called: import optiscope stays light",
}


@dataclass(frozen=True)
class RawImport:
    """One imported name as written: ``import module`` (``name`` None) or ``from module import name``.

    ``module`` is absolute (relative imports are resolved against the importing module).
    """

    module: str
    name: str | None
    bound_as: str
    line: int
    in_function: bool


@dataclass(frozen=True)
class ImportSite:
    """``importer`` loads ``target`` at ``line``: an optiscope module or a third-party dotted name."""

    importer: str
    target: str
    line: int
    in_function: bool


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _absolute(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module a ``from`` import with ``level`` leading dots names."""
    if level == 0:
        return module or ""
    parts = importer.split(".") if is_package else importer.split(".")[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join([*parts, module] if module else parts)


class _ImportCollector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.function_depth = 0
        self.found: list[RawImport] = []

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.function_depth += 1
        self.generic_visit(node)
        self.function_depth -= 1

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_If(self, node: ast.If) -> None:
        if not _is_type_checking(node.test):
            self.generic_visit(node)
            return
        for child in node.orelse:
            self.visit(child)

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            bound = alias.asname or alias.name.partition(".")[0]
            self.found.append(RawImport(alias.name, None, bound, node.lineno, self.function_depth > 0))

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = _absolute(self.module, self.is_package, node.level, node.module)
        for alias in node.names:
            bound = alias.asname or alias.name
            self.found.append(RawImport(module, alias.name, bound, node.lineno, self.function_depth > 0))


class ImportGraph:
    """Every import in the package rooted at ``src_root / package``, resolved to modules."""

    def __init__(self, src_root: Path, package: str) -> None:
        self.package = package
        self.files: dict[str, Path] = {}
        self.packages: set[str] = set()
        for path in sorted((src_root / package).rglob("*.py")):
            parts = list(path.relative_to(src_root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
                self.packages.add(".".join(parts))
            self.files[".".join(parts)] = path
        self.raw = {module: self._collect(module) for module in self.files}
        self.sites = [
            ImportSite(importer, target, raw.line, raw.in_function)
            for importer, imports in self.raw.items()
            for raw in imports
            if (target := self._resolve(importer, raw)) is not None
        ]

    def _collect(self, module: str) -> list[RawImport]:
        tree = ast.parse(self.files[module].read_text(), filename=str(self.files[module]))
        collector = _ImportCollector(module, module in self.packages)
        collector.visit(tree)
        return collector.found

    def is_ours(self, name: str) -> bool:
        return name == self.package or name.startswith(f"{self.package}.")

    def _resolve(self, importer: str, raw: RawImport) -> str | None:
        if raw.name is None:
            target = raw.module
        elif not self.is_ours(raw.module):
            return raw.module if raw.name == "*" else f"{raw.module}.{raw.name}"
        else:
            target = self._resolve_from(importer, raw.module, raw.name, frozenset())
        if target is None or (target in self.packages and importer.startswith(f"{target}.")):
            return None
        return target

    def _resolve_from(
        self, importer: str, module: str, name: str, seen: frozenset[tuple[str, str]]
    ) -> str | None:
        """The module ``from module import name`` makes ``importer`` depend on (None: its own package)."""
        if f"{module}.{name}" in self.files:
            return f"{module}.{name}"
        if module not in self.packages or not importer.startswith(f"{module}.") or (module, name) in seen:
            return module
        origin = self._reexport_origin(module, name)
        if origin is None:
            return None
        return self._resolve_from(importer, *origin, seen | {(module, name)})

    def _reexport_origin(self, package: str, name: str) -> tuple[str, str] | None:
        """Where ``package/__init__`` takes ``name`` from: ``(module, name there)``, if it imports it."""
        for raw in self.raw[package]:
            if not raw.in_function and raw.name is not None and raw.bound_as == name:
                return raw.module, raw.name
        return None

    def edges(self) -> dict[str, dict[str, int]]:
        """``{importer: {imported optiscope module: first line importing it}}``."""
        graph: dict[str, dict[str, int]] = {module: {} for module in self.files}
        for site in self.sites:
            if self.is_ours(site.target):
                lines = graph[site.importer]
                lines[site.target] = min(lines.get(site.target, site.line), site.line)
        return graph

    def describe(self, cycle: tuple[str, ...]) -> str:
        """``a:12 -> b:40 -> a``: each module with the line that imports the next one."""
        graph = self.edges()
        hops = [f"{module}:{graph[module][after]}" for module, after in itertools.pairwise(cycle)]
        return " -> ".join([*hops, cycle[-1]])


def strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's strongly connected components of ``graph``, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for after in sorted(graph.get(node, {})):
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while not component or component[-1] != node:
                component.append(stack.pop())
            components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def _shortest_cycle(graph: dict[str, dict[str, int]], start: str, members: set[str]) -> tuple[str, ...]:
    """The shortest ``start -> ... -> start`` within ``members`` (breadth first)."""
    previous: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for after in sorted(graph.get(node, {})):
            if after == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return (*reversed(path), start)
            if after in members and after not in previous:
                previous[after] = node
                queue.append(after)
    raise AssertionError(f"{start} is in a strongly connected component but on no cycle")


def find_cycles(graph: dict[str, dict[str, int]]) -> list[tuple[str, ...]]:
    """Each module's shortest import cycle, deduplicated, as ``(a, b, ..., a)`` starting at the
    alphabetically first module of the cycle."""
    cycles = set()
    for component in strongly_connected(graph):
        if len(component) == 1 and component[0] not in graph.get(component[0], {}):
            continue
        for start in component:
            ring = _shortest_cycle(graph, start, set(component))[:-1]
            first = ring.index(min(ring))
            cycles.add((*ring[first:], *ring[:first], ring[first]))
    return sorted(cycles)


def inner_import_problems(graph: ImportGraph) -> list[str]:
    """Function-level imports of optiscope modules, or of third-party modules not allow-listed."""
    problems = []
    for site in graph.sites:
        if not site.in_function or site.importer in LAZY_IMPORTERS:
            continue
        where = f"{site.importer}:{site.line} imports {site.target} inside a function"
        if graph.is_ours(site.target):
            problems.append(f"{where}; import it at module level (a lazy one hides a cycle)")
        elif site.target.partition(".")[0] not in sys.stdlib_module_names and not _allowed(site.target):
            problems.append(f"{where}; import it at module level or add it to LAZY_THIRD_PARTY with a reason")
    return list(dict.fromkeys(problems))


def _allowed(target: str) -> bool:
    return any(target == lazy or target.startswith(f"{lazy}.") for lazy in LAZY_THIRD_PARTY)


def _write_package(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def test_optiscope_has_no_import_cycle() -> None:
    graph = ImportGraph(SRC, PACKAGE)
    cycles = find_cycles(graph.edges())
    assert not cycles, f"{len(cycles)} import cycle(s) (module:line -> ...):\n" + "\n".join(
        graph.describe(cycle) for cycle in cycles
    )


def test_no_function_imports_an_optiscope_module() -> None:
    problems = inner_import_problems(ImportGraph(SRC, PACKAGE))
    assert not problems, f"{len(problems)} function-level import(s):\n" + "\n".join(problems)


def test_lazy_allow_list_names_only_used_third_party_modules() -> None:
    graph = ImportGraph(SRC, PACKAGE)
    lazy_targets = [site.target for site in graph.sites if site.in_function]
    ours = [name for name in LAZY_THIRD_PARTY if graph.is_ours(name)]
    unused = [
        name
        for name in LAZY_THIRD_PARTY
        if not any(target == name or target.startswith(f"{name}.") for target in lazy_targets)
    ]
    assert not ours, f"LAZY_THIRD_PARTY may not name optiscope modules: {ours}"
    assert not unused, f"LAZY_THIRD_PARTY names modules no function imports any more: {unused}"


def test_cycle_finder_reports_a_cycle_hidden_in_a_function(tmp_path: Path) -> None:
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.a import run\n",
            "pkg/a.py": "from pkg.b import helper\n\ndef run():\n    return helper()\n",
            "pkg/b.py": "def helper():\n    from . import a\n    return a\n",
            "pkg/c.py": "import pkg.c\n",
        },
    )
    graph = ImportGraph(tmp_path, "pkg")
    cycles = find_cycles(graph.edges())
    assert cycles == [("pkg.a", "pkg.b", "pkg.a"), ("pkg.c", "pkg.c")], cycles
    assert graph.describe(cycles[0]) == "pkg.a:1 -> pkg.b:2 -> pkg.a"
    assert inner_import_problems(graph) == [
        "pkg.b:2 imports pkg.a inside a function; import it at module level (a lazy one hides a cycle)"
    ]


def test_package_reexports_resolve_to_the_defining_submodule(tmp_path: Path) -> None:
    """``__init__`` importing its submodules is no cycle; a sibling imported through the package
    is an edge to the submodule that defines it; ``TYPE_CHECKING`` imports are not edges."""
    _write_package(
        tmp_path,
        {
            "pkg/__init__.py": "from pkg.sub import thing as public\nfrom .leaf import leaf\n",
            "pkg/sub/__init__.py": "from pkg.sub.deep import thing\n",
            "pkg/sub/deep.py": "thing = 1\n",
            "pkg/leaf.py": (
                "from typing import TYPE_CHECKING\n"
                "from pkg import public\n"
                "if TYPE_CHECKING:\n    from pkg.user import x\n"
                "leaf = public\n"
            ),
            "pkg/user.py": "import pkg\nfrom pkg import leaf\n\ndef f():\n    import numpy\n",
        },
    )
    graph = ImportGraph(tmp_path, "pkg")
    assert graph.edges() == {
        "pkg": {"pkg.sub": 1, "pkg.leaf": 2},
        "pkg.sub": {"pkg.sub.deep": 1},
        "pkg.sub.deep": {},
        "pkg.leaf": {"pkg.sub": 2},
        "pkg.user": {"pkg.leaf": 2},
    }
    assert find_cycles(graph.edges()) == []
    assert inner_import_problems(graph) == [
        "pkg.user:5 imports numpy inside a function; import it at module level or add it to "
        "LAZY_THIRD_PARTY with a reason"
    ]
