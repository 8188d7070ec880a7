"""The code is the design: the layers (README "Layout"), no import cycles, no borrowed private names.

Parsed from the source with ``ast`` (nothing is imported), so a violation fails with the file and
line that introduced it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mapds"

#: The layers, top to bottom (README "Layout"): a package imports only packages listed before it.
LAYERS = [
    "errors",
    "geom",
    "maps",
    "io",
    "data",
    "irf",
    "stats",
    "modeling",
    "datasets",
    "estimators",
    "simulate",
    "testing",
    "cli",
    "__main__",  # python -m mapds: runs the command
]
#: The one allowed upward import: ``Map.read``/``Map.write`` (and their HDUList twins) import the
#: storage layer inside the method, as xarray's ``to_zarr`` does.
ALLOWED_UPWARD = {("maps", "io"): {"read", "write", "from_hdulist", "to_hdulist"}}


def _modules() -> dict[str, Path]:
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


MODULES = _modules()


def _package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


class _Imports(ast.NodeVisitor):
    """Every ``mapds`` import of a module: (target module, line, enclosing function, names, typing-only)."""

    def __init__(self, module: str, is_package: bool):
        self.module, self.is_package = module, is_package
        self.found: list[tuple[str, int, str | None, list[str], bool]] = []
        self._functions: list[str] = []
        self._typing = False

    def _resolve(self, node: ast.ImportFrom) -> str:
        if not node.level:
            return node.module or ""
        base = self.module.split(".")
        if not self.is_package:
            base = base[:-1]
        base = base[: len(base) - (node.level - 1)]
        return ".".join([*base, node.module] if node.module else base)

    def visit_FunctionDef(self, node):
        self._functions.append(node.name)
        self.generic_visit(node)
        self._functions.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_If(self, node):
        typing_block = isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"
        if typing_block:
            self._typing = True
            for child in node.body:
                self.visit(child)
            self._typing = False
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def visit_ImportFrom(self, node):
        target = self._resolve(node)
        if target.split(".")[0] == "mapds":
            function = self._functions[-1] if self._functions else None
            names = [alias.name for alias in node.names]
            self.found.append((target, node.lineno, function, names, self._typing))

    def visit_Import(self, node):
        for alias in node.names:
            if alias.name.split(".")[0] == "mapds":
                function = self._functions[-1] if self._functions else None
                self.found.append((alias.name, node.lineno, function, [], self._typing))


def _imports(module: str) -> list:
    path = MODULES[module]
    visitor = _Imports(module, path.name == "__init__.py")
    visitor.visit(ast.parse(path.read_text()))
    return visitor.found


def test_every_package_is_a_layer():
    packages = {_package(m) for m in MODULES} - {""}
    assert packages <= set(LAYERS), f"packages missing from the layers: {packages - set(LAYERS)}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_only_layers_above(module):
    own = _package(module)
    if own == "":
        return  # mapds/__init__.py re-exports the public surface of every layer
    rank = LAYERS.index(own)
    wrong = []
    for target, line, function, _, typing_only in _imports(module):
        other = _package(target)
        if other in ("", own) or typing_only:
            continue
        if LAYERS.index(other) < rank:
            continue
        if function in ALLOWED_UPWARD.get((own, other), set()):
            continue
        wrong.append(f"{MODULES[module].name}:{line} imports {target} ({other} is below {own})")
    assert wrong == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_names_from_other_modules(module):
    wrong = [
        f"{MODULES[module].name}:{line} imports {name} from {target}"
        for target, line, _, names, _ in _imports(module)
        for name in names
        if name.startswith("_") and not name.startswith("__") and target != module
    ]
    assert wrong == []


def _defined_names(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
    return names


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_attributes_of_other_modules(module):
    """``obj._name`` is used only where ``_name`` is defined (the module owning it)."""
    tree = ast.parse(MODULES[module].read_text())
    defined = _defined_names(tree)
    wrong = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_") or node.attr.startswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        if node.attr not in defined:
            wrong.append(f"{MODULES[module].name}:{node.lineno} uses .{node.attr}")
    assert wrong == []


def test_no_import_cycles():
    """No module imports itself back through others (deferred imports count; typing-only ones and
    the allowed upward imports of ``Map.read``/``Map.write`` do not)."""
    graph = {}
    for module in MODULES:
        targets = set()
        for target, _, function, names, typing_only in _imports(module):
            allowed = ALLOWED_UPWARD.get((_package(module), _package(target)), set())
            if typing_only or function in allowed:
                continue
            for candidate in [f"{target}.{name}" for name in names] + [target]:
                if candidate in MODULES and candidate != module:
                    targets.add(candidate)
                    break
        graph[module] = targets
    # a package's __init__ importing its own modules is how packages work: not a cycle
    for module, targets in graph.items():
        graph[module] = {t for t in targets if not module.startswith(f"{t}.")}

    cycles, state = [], dict.fromkeys(graph, 0)

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state[nxt] == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif state[nxt] == 0:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if state[node] == 0:
            visit(node, [node])
    assert cycles == []
