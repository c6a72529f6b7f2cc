"""The library's shape: stages as packages in layers, no import circles, no CLI in the library, messages
without flags, small modules."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "effsearch"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if "cli" not in p.relative_to(PACKAGE).parts and p.name != "__main__.py")
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]+")
MAX_LINES = 360  # "about 350"


def _strings_in_raises(tree: ast.AST) -> list[tuple[int, str]]:
    out = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Raise, ast.Call)) and (isinstance(node, ast.Raise) or _is_warn(node)):
            for sub in ast.walk(node):
                if isinstance(sub, ast.Constant) and isinstance(sub.value, str):
                    out.append((sub.lineno, sub.value))
    return out


def _is_warn(call: ast.Call) -> bool:
    f = call.func
    return (isinstance(f, ast.Attribute) and f.attr == "warn") or (isinstance(f, ast.Name) and f.id == "warn")


def test_the_stages_are_packages():
    for stage in ("arch", "data", "engine", "proxy", "controller", "search", "compound", "review", "runtime", "cli"):
        assert (PACKAGE / stage / "__init__.py").is_file(), stage
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert flat == ["__init__.py", "__main__.py", "errors.py", "units.py"], flat


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_library_modules_are_small_import_no_cli_and_name_no_flags(path):
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_LINES, f"{len(text.splitlines())} lines"
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            assert not node.module.startswith("effsearch.cli"), node.module
        if isinstance(node, ast.Import):
            assert not any(a.name.startswith("effsearch.cli") for a in node.names)
    for line, value in _strings_in_raises(tree):
        assert not FLAG.search(value), f"line {line}: error names a command-line flag: {value!r}"


def test_importing_effsearch_changes_no_process_settings_and_loads_no_heavy_module():
    code = ("import os, sys; before = dict(os.environ); import effsearch; effsearch.count(effsearch.load_spec('efficientnet-b0'));"
            "assert dict(os.environ) == before, set(os.environ) ^ set(before);"
            "heavy = [m for m in ('torch', 'optuna', 'ray', 'pandas', 'dash') if m in sys.modules]; assert not heavy, heavy")
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr


POSIX_ONLY = {"fcntl", "termios", "resource", "pwd", "grp"}


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_needs_posix_to_be_imported(path):
    """A POSIX-only module at module level would stop the package importing on Windows (locks: filelock)."""
    tree = ast.parse(path.read_text())
    for node in tree.body:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
            [node.module] if isinstance(node, ast.ImportFrom) and node.module else [])
        assert not {n.split(".")[0] for n in names} & POSIX_ONLY, f"line {node.lineno}: {names}"


# --- layers: who may import whom --------------------------------------------------------------------

LAYERS = (  # lowest first; docs/internals.md ("Layers") lists the same, with the reasons
    ("effsearch.errors", "effsearch.units", "effsearch.review.analysis"),
    ("effsearch.runtime",),
    ("effsearch.arch",),
    ("effsearch.data",),
    ("effsearch.engine",),
    ("effsearch.proxy",),
    ("effsearch.controller",),
    ("effsearch.train",),
    ("effsearch.export",),
    ("effsearch.search",),
    ("effsearch.supernet",),
    ("effsearch.compound",),
    ("effsearch.runs",),
    ("effsearch.review",),
    ("effsearch.cli", "effsearch", "effsearch.__main__"),
)
"""A module may import from its own layer or a lower one (a name's longest listed prefix places it).
Every import counts, at module level or in a function; only ``if TYPE_CHECKING:`` imports do not."""

KNOWN_CIRCLES: dict[tuple[str, str], str] = {}  # (importer, imported) -> why tolerated; add none


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str:
    """The module an imported dotted name lives in (``effsearch.proxy.ProxyConfig`` -> ``effsearch.proxy``)."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _type_checking(child):
            for other in child.orelse:
                yield from _import_nodes_of(other)
            continue
        yield from _import_nodes_of(child)


def _import_nodes_of(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        yield node
    else:
        yield from _import_nodes(node)


def _edges(module: str, source: str | None = None) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every effsearch import of ``module``, the version string excepted."""
    path = MODULES.get(module, PACKAGE / "__init__.py")
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    out = []
    for node in _import_nodes(ast.parse(path.read_text() if source is None else source)):
        if isinstance(node, ast.Import):
            out += [(_resolve(a.name), node.lineno) for a in node.names if a.name.split(".")[0] == "effsearch"]
            continue
        base = ".".join(package[:len(package) - node.level + 1] + ([node.module] if node.module else [])) \
            if node.level else node.module or ""
        if base.split(".")[0] != "effsearch":
            continue
        if base == "effsearch" and [a.name for a in node.names] == ["__version__"]:
            continue  # the version string: data the package sets before any stage loads, not code
        targets = {_resolve(f"{base}.{a.name}") if f"{base}.{a.name}" in MODULES else _resolve(base) for a in node.names}
        out += [(t, node.lineno) for t in sorted(targets)]
    return out


GRAPH = {m: _edges(m) for m in MODULES}


def _layer(module: str) -> int | None:
    best, layer = "", None
    for i, names in enumerate(LAYERS):
        for name in names:
            covers = module == name or (name != "effsearch" and module.startswith(name + "."))
            if covers and len(name) > len(best):
                best, layer = name, i
    return layer


def test_every_module_has_a_layer():
    unplaced = sorted(m for m in MODULES if _layer(m) is None)
    assert not unplaced, f"place these in LAYERS (and in docs/internals.md): {unplaced}"


def test_imports_point_down_the_layers():
    def label(i: int) -> str:
        return "/".join(n.removeprefix("effsearch.") for n in LAYERS[i])

    upward = [f"{m} line {line}: imports {t} (layer {_layer(t) + 1}, {label(_layer(t))}) from layer {_layer(m) + 1} "
              f"({label(_layer(m))})" for m, edges in GRAPH.items() for t, line in edges if _layer(t) > _layer(m)]
    assert not upward, "imports that point up the layers:\n" + "\n".join(upward)


def _circles(graph: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """The strongly connected groups of two or more modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w, _ in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while not group or group[-1] != v:
                group.append(stack.pop())
            if len(group) > 1:
                out.append(sorted(group))

    for v in MODULES:
        if v not in index:
            visit(v)
    return out


def _one_cycle(group: list[str]) -> str:
    """One closed path through ``group``, each step with the line that imports."""
    start, members = group[0], set(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w, line in GRAPH[v]:
            step = f"{v} line {line} -> {w}"
            if w == start:
                return "; ".join([*paths[v][1:], step])
            if w in members and w not in paths:
                paths[w] = [*paths[v], step]
                queue.append(w)
    return ", ".join(group)


def _describe(group: list[str]) -> str:
    cycle = _one_cycle(group)
    return cycle if cycle.count(" -> ") == len(group) else f"{cycle} (one of the circles among {', '.join(group)})"


def _reaches(start: str, goal: str) -> bool:
    seen, todo = {start}, [start]
    while todo:
        for w, _ in GRAPH[todo.pop()]:
            if w == goal:
                return True
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return False


def test_no_import_circles():
    graph = {m: [(t, line) for t, line in edges if (m, t) not in KNOWN_CIRCLES] for m, edges in GRAPH.items()}
    circles = _circles(graph)
    assert not circles, "import circles (module-level or in functions):\n" + "\n".join(map(_describe, circles))
    gone = [edge for edge in KNOWN_CIRCLES if not (any(t == edge[1] for t, _ in GRAPH[edge[0]]) and _reaches(*edge[::-1]))]
    assert not gone, f"these imports no longer close a circle: remove them from KNOWN_CIRCLES: {gone}"


def test_the_layer_checks_see_what_they_must():
    """Function-level, relative and ``from package import submodule`` imports count; TYPE_CHECKING ones do not."""
    source = ("from typing import TYPE_CHECKING\n"
              "from effsearch.proxy import ProxyConfig\n"
              "from effsearch import __version__\n"
              "if TYPE_CHECKING:\n    from effsearch.cli import common\n"
              "def f():\n    from effsearch.review.dashboard import data\n"
              "    from ..arch import spec\n    import effsearch.runtime.files\n")
    assert _edges("effsearch.search.outputs", source) == [
        ("effsearch.proxy", 2), ("effsearch.review.dashboard.data", 7), ("effsearch.arch.spec", 8),
        ("effsearch.runtime.files", 9)]
    assert _layer("effsearch.review.analysis") < _layer("effsearch.search.outputs") < _layer("effsearch.review.dashboard.data")
    assert _layer("effsearch") == _layer("effsearch.cli.common") == len(LAYERS) - 1


def test_the_layers_are_documented():
    text = (PACKAGE.parent / "docs" / "internals.md").read_text()
    section = text.split("## Layers", 1)[1].split("\n## ", 1)[0]
    documented = [tuple(re.findall(r"`([\w.]+)`", line.split(" - ", 1)[0]))
                  for line in section.splitlines() if re.match(r"\d+\. `", line)]
    listed = [tuple("effsearch" if n == "effsearch" else n.removeprefix("effsearch.") for n in names) for names in LAYERS]
    assert documented == listed


CLI_MAX_LINES = 250


@pytest.mark.parametrize("path", sorted((PACKAGE / "cli").glob("*.py")), ids=lambda p: p.name)
def test_command_modules_only_parse_call_and_print(path):
    """A command module that grows past ~250 lines has started orchestrating: that belongs in the library."""
    assert len(path.read_text().splitlines()) <= CLI_MAX_LINES
