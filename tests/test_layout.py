"""The library's shape: stages as packages, no CLI in the library, messages without flags, small modules."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
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
    for stage in ("arch", "data", "proxy", "controller", "search", "compound", "review", "runtime", "cli"):
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
