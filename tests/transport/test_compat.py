"""``asms._compat`` is the one place asms imports httpx and httpcore (its docstring says so)."""

from __future__ import annotations

import ast
from pathlib import Path

import asms

PACKAGE = Path(asms.__file__).parent
THIRD_PARTY = {"httpx", "httpcore"}


def _imported(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):  # TYPE_CHECKING blocks and function bodies included
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_only_compat_imports_httpx() -> None:
    offenders = {
        str(path.relative_to(PACKAGE)): sorted(found)
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "_compat.py" or path.parent != PACKAGE
        if (found := _imported(ast.parse(path.read_text(encoding="utf-8"))) & THIRD_PARTY)
    }
    assert offenders == {}


def test_compat_is_httpx_itself() -> None:
    import httpcore
    import httpx

    from asms._compat import httpcore as compat_httpcore
    from asms._compat import httpx as compat_httpx

    assert compat_httpx is httpx
    assert compat_httpcore is httpcore
