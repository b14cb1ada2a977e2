"""The package's layers (see ``ltlib/__init__.py``): no module imports one above it, and no circle."""
from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "ltlib"

LAYERS = {
    "ltlib.version": 0, "ltlib.checks": 0, "ltlib.storage": 0,
    "ltlib.data": 1, "ltlib.models": 1, "ltlib.distributed": 1, "ltlib.fast": 1, "ltlib.schedules": 1, "ltlib.semantics": 1, "ltlib.checkpoint": 1,
    "ltlib.methods": 2, "ltlib.evaluate": 2, "ltlib.embedding": 2, "ltlib.significance": 2,
    "ltlib.config": 3,
    "ltlib.train": 4,
    "ltlib.results": 5,
    "ltlib.store": 4, "ltlib.recipes": 4,
    "ltlib.tables": 6, "ltlib.plots": 6, "ltlib.runsets": 6, "ltlib.toy": 6, "ltlib.widgets": 6,
    "ltlib.replicates": 6, "ltlib.compression": 6,
    "ltlib.plans": 7, "ltlib.campaign": 7, "ltlib.devicekit": 7, "ltlib.regenerate": 7, "ltlib.reproduction": 7,
    "ltlib.storeview": 7, "ltlib.seedreport": 7, "ltlib.classreport": 7, "ltlib.compressionreport": 7,
    "ltlib.readmestatus": 8, "ltlib.cli": 8, "ltlib.__main__": 8,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module: str) -> int:
    owner = max((name for name in LAYERS if module == name or module.startswith(name + ".")), key=len, default=None)
    assert owner is not None, f"{module} has no layer: add it to LAYERS and to the map in ltlib/__init__.py"
    return LAYERS[owner]


def imports_of(path: Path, modules: set[str]) -> set[str]:
    """ltlib modules that ``path`` imports, at module level or inside functions."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("ltlib")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("ltlib"):
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & modules  # from pkg import module
            found |= submodules
            if len(submodules) < len(node.names):  # a name defined in the package itself
                found.add(node.module)
    return found & modules


def import_graph() -> dict[str, set[str]]:
    files = {module_name(path): path for path in PACKAGE.rglob("*.py")}
    return {name: imports_of(path, set(files)) - {name} for name, path in files.items() if name != "ltlib"}


def test_no_module_imports_a_layer_above_it():
    upward = [f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
              for source, targets in import_graph().items() for target in targets
              if target != "ltlib" and layer(target) > layer(source)]
    assert upward == []
    assert all("ltlib" not in targets for targets in import_graph().values()), "import from ltlib.version instead"


def test_the_import_graph_has_no_circle():
    graph = import_graph()
    state: dict[str, str] = {}

    def visit(node, path):
        state[node] = "open"
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                raise AssertionError("import circle: " + " -> ".join(path[path.index(target):] + [target]))
            if target not in state:
                visit(target, path + [target])
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


def test_the_layer_map_finds_a_planted_upward_import(tmp_path):
    planted = tmp_path / "planted.py"
    planted.write_text("def f():\n    from ltlib.results import get_or_train\n")
    assert imports_of(planted, {"ltlib.results"}) == {"ltlib.results"}
    assert layer("ltlib.results") > layer("ltlib.data.cifar")
