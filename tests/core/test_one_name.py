"""One name, one meaning: a name defined at the top of two modules of ``asms`` means the same
thing in both, or it is renamed.

The names below are the pairs that do mean the same thing (each with why); any other name
defined at the top level of two modules fails the test, naming both places.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import asms

PACKAGE = Path(asms.__file__).parent

SAME_MEANING: dict[str, str] = {
    # Type variables and the ASGI interface's own aliases.
    "T": "a module's TypeVar",
    "R": "the TypeVar of a reply parser's result",
    "Scope": "the ASGI scope",
    "Receive": "the ASGI receive callable",
    "Send": "the ASGI send callable",
    "ASGIMessage": "an ASGI event",
    # Short aliases of one enum, inside the emulator.
    "E": "asms._codes.ErrorCode",
    "S": "asms._codes.MessageStatus",
    "O": "asms._platform_codes.OneApiErrorCode",
    # Module-level conventions.
    "logger": "the module's logger",
    "_DEPRECATED": "a public package's old names and what replaces them",
    "_HANDLERS": "the module's dispatch table (admin routes, gateway commands)",
    "_SCHEMA": "the module's SQLite schema (the bulk journal's, the callback store's)",
    "_XML_DECLARATION": "the XML declaration a written document starts with",
    "_describe": "the text of a failure for an error message (transport, wire)",
    "_POLL": "select.poll, where the platform has it",
    "_POLLIN": "select.POLLIN, where the platform has it",
    "_SENDMSG": "the sendmsg operation of the operation table",
    "_JSON_TYPE": "the application/json content type (a header value)",
    "_QUERYMSG": "the querymsg operation of the operation table",
    # The wire's form encoding is asms._forms.encode_form with the legacy API's charset.
    "encode_form": "pairs to a form body (asms._forms; asms._wire.http for the gateway)",
}


def _top_level_names(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names.extend(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not (n.startswith("__") and n.endswith("__"))]


def defined_twice() -> dict[str, list[str]]:
    """Top-level names defined in more than one module of asms, with the modules."""
    where: defaultdict[str, list[str]] = defaultdict(list)
    for path in sorted(PACKAGE.rglob("*.py")):
        for name in _top_level_names(ast.parse(path.read_text(encoding="utf-8"))):
            where[name].append(str(path.relative_to(PACKAGE.parent)))
    return {name: files for name, files in where.items() if len(files) > 1}


def test_a_name_defined_in_two_modules_means_the_same_in_both() -> None:
    unexplained = {n: f for n, f in defined_twice().items() if n not in SAME_MEANING}
    assert unexplained == {}


def test_every_explained_name_is_still_defined_twice() -> None:
    twice = defined_twice()
    assert [name for name in SAME_MEANING if name not in twice] == []
