"""The public namespace: a sorted ``__all__`` whose every name resolves and claims ``asms``."""

from __future__ import annotations

import asms


def test_all_is_sorted_case_insensitively() -> None:
    assert list(asms.__all__) == sorted(asms.__all__, key=str.casefold)


def test_all_names_exist_and_are_unique() -> None:
    assert len(set(asms.__all__)) == len(asms.__all__)
    for name in asms.__all__:
        assert hasattr(asms, name), name


def test_public_objects_live_in_the_asms_namespace() -> None:
    for name in asms.__all__:
        obj = getattr(asms, name)
        module = getattr(obj, "__module__", None)
        if isinstance(module, str) and name != "__version__":
            assert module == "asms", f"{name} has __module__ {module}"


def test_nothing_private_leaks() -> None:
    for name in asms.__all__:
        assert not name.startswith("_") or name == "__version__"
