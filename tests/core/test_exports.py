"""The public namespaces ``asms``, ``asms.testing`` and ``asms.callbacks``: each has a sorted
``__all__`` whose every name resolves and claims a public package, and nothing public is
left out of it.

The test walks ``__all__``, never ``dir()``: a name a package serves through its module
``__getattr__`` is a deprecated alias, and looking it up warns. Such a name must warn, once
looked up, and every other name must not.
"""

from __future__ import annotations

import importlib
import pickle
from types import FunctionType, ModuleType
from typing import get_origin

import pytest

PACKAGES = ["asms", "asms.testing", "asms.callbacks"]


def package(name: str) -> ModuleType:
    return importlib.import_module(name)


def is_alias(module: ModuleType, name: str) -> bool:
    """Served by the module's ``__getattr__`` rather than bound in it: a deprecated name."""
    return name not in vars(module)


def exported(name: str) -> list[tuple[str, object]]:
    """The names of ``__all__`` bound in the package and their objects (aliases left out)."""
    module = package(name)
    return [(n, vars(module)[n]) for n in module.__all__ if not is_alias(module, n)]


def defines(obj: object) -> bool:
    """A class or a function: what the packages rename to their public name."""
    return isinstance(obj, type | FunctionType)


@pytest.fixture(params=PACKAGES)
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def test_all_is_sorted_case_insensitively(name: str) -> None:
    names = list(package(name).__all__)
    assert names == sorted(names, key=str.casefold)


def test_all_names_exist_and_are_unique(name: str) -> None:
    module = package(name)
    assert len(set(module.__all__)) == len(module.__all__)
    for item in module.__all__:
        if is_alias(module, item):
            with pytest.warns(DeprecationWarning, match=item):
                obj = getattr(module, item)
            # The old name leads to the object under its new public name.
            assert getattr(obj, "__module__", None) in PACKAGES, f"{name}.{item}"


def test_public_objects_live_in_a_public_namespace(name: str) -> None:
    """Defined here: ``__module__`` is this package. Re-exported from another public package
    (``asms.callbacks.StatusReport`` is ``asms.StatusReport``): that package's name, under
    which it is exported as the same object."""
    for item, obj in exported(name):
        module = getattr(obj, "__module__", None)
        if not isinstance(module, str) or item == "__version__":
            continue
        if get_origin(obj) is not None:
            continue  # a type alias (``Literal[...]``, ``Callable[...]``): not ours to name
        if module == name:
            continue
        assert module in PACKAGES, f"{name}.{item} has __module__ {module}"
        assert getattr(package(module), item, None) is obj, f"{name}.{item}: {module}.{item}"


def test_nothing_private_leaks(name: str) -> None:
    for item in package(name).__all__:
        assert not item.startswith("_") or item == "__version__", item


def test_nothing_public_is_missing_from_all(name: str) -> None:
    """A class or function bound under a public name and defined in this package (or in one
    of its private modules) is exported."""
    module = package(name)
    missing = [
        item
        for item, obj in vars(module).items()
        if not item.startswith("_")
        and defines(obj)
        and (obj.__module__ == name or obj.__module__.startswith(f"{name}._"))
        and item not in module.__all__
    ]
    assert missing == []


def test_exported_classes_and_functions_pickle_by_reference(name: str) -> None:
    """Pickle finds an object by ``__module__`` and ``__qualname__``: both must lead back."""
    for item, obj in exported(name):
        if defines(obj):
            assert pickle.loads(pickle.dumps(obj)) is obj, f"{name}.{item}"


def test_each_package_sees_the_others_objects_as_the_same() -> None:
    """A name exported by two packages is one object, not a copy."""
    shared: dict[str, object] = {}
    for name in PACKAGES:
        for item, obj in exported(name):
            if defines(obj):
                assert shared.setdefault(item, obj) is obj, f"{name}.{item} is another object"
