"""The extras in pyproject.toml install what the README promises (issue 14, item 6).

``pip install 'asms[cli]'`` must bring every module any ``asms`` command imports (the
emulator, ``asms demo`` and ``asms callbacks`` serve with uvicorn), ``asms[examples]`` what
the scripts in examples/ import, and ``asms[all]`` every extra. Checked by reading the
imports from the source and following the installed distributions' requirements.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import re
import sys
import tomllib
from pathlib import Path

from helpers import ROOT
from packaging.requirements import Requirement

PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
EXTRAS: dict[str, list[str]] = PROJECT["optional-dependencies"]
# Imported only by the pytest plugin, which runs inside pytest.
NOT_FOR_THE_CLI = {ROOT / "asms" / "testing" / "pytest_plugin.py"}


def _name(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9._-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower().replace("_", "-")


def _closure(requirements: list[str]) -> set[str]:
    """Distributions installed by ``requirements`` (asms's own extras followed from
    pyproject, the others from the installed metadata), ignoring their optional extras."""
    seen: set[str] = set()
    todo = list(requirements)
    while todo:
        requirement = todo.pop()
        name = _name(requirement)
        if name == "asms":
            extras = re.search(r"\[(.*?)\]", requirement)
            for extra in extras.group(1).split(",") if extras else ():
                todo.extend(EXTRAS[extra.strip()])
            continue
        if name in seen:
            continue
        seen.add(name)
        for sub in metadata.requires(name) or ():
            parsed = Requirement(sub)
            # Optional extras of the dependency are not installed; markers for other
            # Python versions or platforms do not apply here.
            if parsed.marker is None or parsed.marker.evaluate({"extra": ""}):
                todo.append(parsed.name)
    return seen


def _imports(paths: list[Path]) -> dict[str, Path]:
    """Top-level third-party modules imported by ``paths`` (anywhere: lazy imports too)."""
    found: dict[str, Path] = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.partition(".")[0]
                if top not in sys.stdlib_module_names and top != "asms":
                    found.setdefault(top, path)
    return found


def _distributions(module: str) -> set[str]:
    names = metadata.packages_distributions().get(module)
    assert names, f"{module} is not installed in the test environment"
    return {_name(n) for n in names}


def test_cli_extra_brings_every_module_the_commands_import() -> None:
    installed = _closure([*PROJECT["dependencies"], "asms[cli]"])
    asms = ROOT / "asms"
    paths = [asms / "_main.py"]
    for package in ("_cli", "testing", "callbacks"):
        paths += sorted((asms / package).rglob("*.py"))
    paths = [p for p in paths if p not in NOT_FOR_THE_CLI]
    missing = {
        module: str(path.relative_to(ROOT))
        for module, path in _imports(paths).items()
        if not _distributions(module) & installed
    }
    assert missing == {}, f"not installed by asms[cli]: {missing}"
    assert "uvicorn" in installed


def test_examples_extra_brings_what_the_examples_import() -> None:
    installed = _closure([*PROJECT["dependencies"], "asms[examples]"])
    examples = sorted((ROOT / "examples").glob("*.py"))
    assert examples
    missing = {
        module: str(path.relative_to(ROOT))
        for module, path in _imports(examples).items()
        if not _distributions(module) & installed
    }
    assert missing == {}, f"not installed by asms[examples]: {missing}"


def test_all_extra_is_every_extra() -> None:
    everything = _closure(["asms[all]"])
    for extra in EXTRAS:
        assert _closure([f"asms[{extra}]"]) <= everything, extra


def test_each_example_states_what_it_needs() -> None:
    for path in sorted((ROOT / "examples").glob("*.py")):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        assert "pip install" in doc, f"{path.name}: its docstring does not say what to install"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "asms[examples]" in readme
