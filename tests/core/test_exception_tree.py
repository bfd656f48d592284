"""The tree drawn in ``asms._exceptions``'s docstring is the real one.

Every exception the public packages export is an ``ASMSError`` defined in
``asms/_exceptions.py``, drawn in the tree under its real parent (with its other, builtin
parents as ``(also …)``), and shown under a public package's name.
"""

from __future__ import annotations

import builtins
import importlib
import re
from dataclasses import dataclass, field

import pytest

from asms import _exceptions

PUBLIC_PACKAGES = ("asms", "asms.testing", "asms.callbacks")

_BRANCH = re.compile(r"(?P<indent>(?:│   |    )*)[├└]── (?P<name>\w+)(?P<rest>.*)")
_ALSO = re.compile(r"\(also (\w+)\)")


@dataclass
class Drawn:
    """One class as the docstring draws it."""

    name: str
    parent: str | None
    also: list[str] = field(default_factory=list)


def drawn_tree() -> dict[str, Drawn]:
    """The classes of the docstring's tree, by name, each with its drawn parents."""
    doc = _exceptions.__doc__
    assert doc is not None
    lines = doc.split("::\n", 1)[1].splitlines()
    block = [line[4:] for line in lines[1 : lines.index("", 1)]]
    assert block[0] == "ASMSError"
    tree = {"ASMSError": Drawn("ASMSError", None)}
    path = ["ASMSError"]
    for line in block[1:]:
        match = _BRANCH.fullmatch(line)
        assert match is not None, f"not a branch of the tree: {line!r}"
        depth = len(match["indent"]) // 4 + 1
        assert depth <= len(path), f"{match['name']} is drawn below no parent"
        del path[depth:]
        name = match["name"]
        assert name not in tree, f"{name} is drawn twice"
        tree[name] = Drawn(name, path[-1], _ALSO.findall(match["rest"]))
        path.append(name)
    return tree


def exported_exceptions() -> dict[type[BaseException], list[str]]:
    """Every exception class the public packages export, with the packages exporting it."""
    found: dict[type[BaseException], list[str]] = {}
    for package in PUBLIC_PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and issubclass(obj, BaseException):
                found.setdefault(obj, []).append(package)
    return found


def test_the_tree_is_drawn_well() -> None:
    tree = drawn_tree()
    assert len(tree) > 30
    assert tree["ASMSError"].parent is None
    assert tree["ConnectTimeout"].parent == "RequestTimeout"
    assert tree["InvalidNumberError"].parent == "ValidationError"
    assert tree["JournalMismatchError"].also == ["ValueError"]


def test_every_exported_exception_is_an_asms_error_from_the_one_module() -> None:
    for cls, packages in exported_exceptions().items():
        assert issubclass(cls, _exceptions.ASMSError), cls
        assert getattr(_exceptions, cls.__name__, None) is cls, (
            f"{cls.__name__} is not defined in asms/_exceptions.py"
        )
        assert cls.__name__ in _exceptions.__all__
        assert cls.__module__ in packages, f"{cls.__name__} shows as {cls.__module__}"


def test_the_tree_draws_exactly_the_exported_exceptions() -> None:
    exported = {cls.__name__ for cls in exported_exceptions()}
    defined = {
        name
        for name in _exceptions.__all__
        if isinstance(cls := getattr(_exceptions, name), type)
        and issubclass(cls, _exceptions.ASMSError)
    }
    assert set(drawn_tree()) == exported == defined


@pytest.mark.parametrize("name", sorted(drawn_tree()))
def test_each_class_has_the_parents_it_is_drawn_with(name: str) -> None:
    drawn = drawn_tree()[name]
    cls = getattr(_exceptions, name)
    expected: list[type] = [] if drawn.parent is None else [getattr(_exceptions, drawn.parent)]
    expected += [getattr(builtins, also) for also in drawn.also]
    if drawn.parent is None:
        expected.append(Exception)
    assert list(cls.__bases__) == expected
