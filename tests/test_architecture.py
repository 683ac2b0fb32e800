"""ARCHITECTURE.md is the map: the imports follow its layers, and the public face holds.

The layers are read from ARCHITECTURE.md itself, so changing the code's shape means
changing the map in the same commit.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import json
import re
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "workbench"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"


def _layers() -> dict[str, int]:
    """Unit -> layer, from the Layers table of ARCHITECTURE.md."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    section = re.search(r"^## Layers\s*$(.*?)(?=^## )", text, flags=re.M | re.S)
    assert section is not None, "ARCHITECTURE.md has no '## Layers' section"
    layers = {}
    for number, units in re.findall(r"^\|\s*(\d+)\s*\|(.*)\|\s*$", section.group(1), re.M):
        for unit in re.findall(r"`([a-z_]+)`", units):
            layers[unit] = int(number)
    return layers


def _unit(module: str) -> str:
    """``workbench.capture.staging`` -> ``capture``; the package face is ``workbench``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "workbench"


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(name: str) -> bool:
    return (PACKAGE / name).is_dir() or (PACKAGE / f"{name}.py").exists()


def _imports() -> list[tuple[str, str, str, int]]:
    """(importing unit, imported module, file, line) for every run-time import."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "__main__.py":
            continue  # entry points sit above everything
        tree = ast.parse(path.read_text(encoding="utf-8"))
        type_only = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                type_only.update(id(child) for child in ast.walk(node))
        for node in ast.walk(tree):
            if id(node) in type_only:
                continue
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from workbench import store` imports the module workbench.store.
                targets = [
                    f"workbench.{alias.name}"
                    if node.module == "workbench" and _is_module(alias.name)
                    else node.module
                    for alias in node.names
                ]
            else:
                continue
            for target in targets:
                if target == "workbench" or target.startswith("workbench."):
                    found.append((_unit(_module_name(path)), target, str(path), node.lineno))
    return found


def test_every_unit_of_the_package_is_on_the_map():
    layers = _layers()
    units = {path.stem for path in PACKAGE.glob("*.py") if path.stem != "__init__"}
    units |= {path.name for path in PACKAGE.iterdir() if (path / "__init__.py").exists()}
    assert units | {"workbench"} == set(layers), (
        f"not on the map: {sorted(units - set(layers))}; "
        f"on the map but gone: {sorted(set(layers) - units - {'workbench'})}"
    )


def test_imports_flow_down_the_layers_and_never_in_a_cycle():
    layers = _layers()
    upward, edges = [], defaultdict(set)
    for unit, target, path, line in _imports():
        other = _unit(target)
        if other == unit:
            continue
        edges[unit].add(other)
        if layers[other] > layers[unit]:
            upward.append(f"{path}:{line} {unit} (layer {layers[unit]}) imports {target}")
    assert not upward, "imports that go up the layers:\n" + "\n".join(upward)

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        return any(
            nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt}))
            for nxt in edges.get(start, ())
        )

    cycles = sorted(unit for unit in list(edges) if reaches(unit, unit, {unit}))
    assert not cycles, f"units in an import cycle: {cycles}"


def test_no_unit_imports_another_units_private_names():
    private = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        unit = _unit(_module_name(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module != "workbench":
                if not node.module.startswith("workbench.") or _unit(node.module) == unit:
                    continue
                names = [
                    alias.name
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.endswith("__")
                ]
                hidden = [part for part in node.module.split(".") if part.startswith("_")]
                if names or hidden:
                    private.append(f"{path}:{node.lineno} {node.module} {names}")
    assert not private, "private names used across units:\n" + "\n".join(private)


def _public_packages() -> list[str]:
    return sorted(
        f"workbench.{path.name}"
        for path in PACKAGE.iterdir()
        if (path / "__init__.py").exists() and path.name not in {"cli"}
    )


@pytest.mark.parametrize("package", ["workbench", *_public_packages()])
def test_every_public_name_imports_and_says_what_it_is(package):
    module = importlib.import_module(package)
    names = getattr(module, "__all__", None)
    assert names, f"{package} declares no __all__"
    undocumented = []
    for name in names:
        value = getattr(module, name)  # loads a lazy name's module: it must import
        if (inspect.isfunction(value) or inspect.isclass(value)) and not inspect.getdoc(value):
            undocumented.append(name)
    assert not undocumented, f"{package}: no docstring on {undocumented}"
    assert sorted(dir(module)) == sorted(set(dir(module)))  # __dir__ lists each once
    assert set(names) <= set(dir(module))


def _public_names() -> dict[str, set[str]]:
    """Module -> the names it offers: the packages' and top-level modules' ``__all__``."""
    offered: dict[str, set[str]] = {}
    modules = [
        f"workbench.{path.stem}"
        for path in PACKAGE.glob("*.py")
        if not path.stem.startswith("_") and path.stem not in {"lab"}
    ]
    for name in ["workbench", *_public_packages(), *modules]:
        module = importlib.import_module(name)
        offered[name] = set(getattr(module, "__all__", ()))
    return offered


def _notebook_sources() -> list[tuple[str, str]]:
    sources = []
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]
        sources.append((path.name, "\n\n".join(code)))
    for path in sorted((ROOT / "notebooks").glob("*.py")):
        sources.append((path.name, path.read_text(encoding="utf-8")))
    return sources


@pytest.mark.parametrize(("name", "source"), _notebook_sources(), ids=lambda v: v[:40])
def test_notebooks_import_only_the_public_face(name, source):
    offered = _public_names()
    wrong = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            wrong += [
                alias.name
                for alias in node.names
                if alias.name.startswith("workbench") and alias.name not in offered
            ]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench"):
            if node.module not in offered:
                wrong.append(f"{node.module} (not a public package or module)")
                continue
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in offered or alias.name in offered[node.module]:
                    continue
                wrong.append(submodule)
    assert not wrong, f"{name} imports what no package face offers: {wrong}"


@pytest.mark.parametrize(
    "path", sorted((ROOT / "notebooks").glob("*.ipynb")), ids=lambda path: path.name
)
def test_committed_notebooks_have_cell_ids_and_no_outputs(path):
    # nbformat 4.5 wants an id on every cell (a missing one is a warning today, an error
    # in later versions); a notebook is committed without outputs.
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    ids = [cell.get("id") for cell in cells]
    assert all(ids) and len(set(ids)) == len(ids), ids
    assert not any(cell.get("outputs") for cell in cells if cell["cell_type"] == "code")
