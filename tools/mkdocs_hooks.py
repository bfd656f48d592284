"""MkDocs hooks for the documentation site (`make docs`; listed under ``hooks:`` in mkdocs.yml).

- The benchmark chart is served from where ``make bench`` writes it
  (``benchmarks/results/chart.png``), so the site never holds a stale copy.
- Every public name (the ``__all__`` of ``asms``, ``asms.testing`` and ``asms.callbacks``) must
  be documented by a ``::: name`` line on a page under ``docs/reference/``; a missing one is a
  warning, which ``mkdocs build --strict`` turns into a failed build. Names a package serves
  through a module ``__getattr__`` (deprecated aliases) are not in its namespace and are skipped.
- Every reference in the code to a section of the protocol page (``docs/protocol.md "Limits"``)
  must name a section that exists, and nothing may point at ``PROTOCOL.md``, a document this
  repository does not have: a comment that cites a decision has to lead to it.
"""

from __future__ import annotations

import importlib
import logging
import re
from pathlib import Path
from types import ModuleType
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.asms")

PUBLIC_PACKAGES = ("asms", "asms.testing", "asms.callbacks")

#: Files outside docs/ the site serves: (path in the site, path in the repository).
EXTERNAL_FILES = (("assets/benchmarks-chart.png", "benchmarks/results/chart.png"),)

_DIRECTIVE = re.compile(r"^::: +([\w.]+)\s*$", re.MULTILINE)

#: Where code may cite the protocol page, and how: the file name, a comma, the section quoted
#: (a comment or docstring may wrap between the two).
CITING_DIRS = ("asms", "tests", "benchmarks", "examples", "tools")
_CITATION = re.compile(r'docs/protocol\.md,?(?:\s|#)*"([^"]+)"')
_SECTION = re.compile(r"^## +(.+?)\s*$", re.MULTILINE)


def on_files(files: Files, config: MkDocsConfig, **kwargs: Any) -> Files:
    """Add the files that live outside ``docs/`` (the benchmark chart) to the site."""
    root = Path(__file__).resolve().parent.parent
    for dest, src in EXTERNAL_FILES:
        path = root / src
        if not path.is_file():
            log.warning("%s is missing: run `make bench` to make it", src)
            continue
        files.append(File.generated(config, dest, abs_src_path=str(path)))
    return files


def _resolve(dotted: str) -> object:
    """The object a ``::: a.b.C`` line names (the longest importable module prefix).

    An ImportError raised inside a module that exists propagates: it is a real failure.
    """
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        module = ".".join(parts[:cut])
        try:
            obj: object = importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        for attr in parts[cut:]:
            # A module's own namespace only: a name its __getattr__ serves is a deprecated
            # alias, which documents nothing.
            obj = vars(obj)[attr] if isinstance(obj, ModuleType) else getattr(obj, attr)
        return obj
    raise ImportError(f"no module in {dotted}")


def _check_citations(docs_dir: Path) -> None:
    """Warn about each citation of a protocol section that does not exist."""
    sections = set(_SECTION.findall((docs_dir / "protocol.md").read_text(encoding="utf-8")))
    root = Path(__file__).resolve().parent.parent
    for folder in CITING_DIRS:
        for path in sorted((root / folder).rglob("*.py")):
            if path == Path(__file__).resolve():
                continue  # this file names the forms it looks for
            text = path.read_text(encoding="utf-8")
            where = path.relative_to(root)
            if "PROTOCOL.md" in text:
                log.warning('%s cites PROTOCOL.md: cite docs/protocol.md "<section>"', where)
            for quoted in _CITATION.findall(text):
                section = " ".join(quoted.replace("#", " ").split())  # wrapped in a comment
                if section not in sections:
                    log.warning("%s cites docs/protocol.md %r: no such section", where, section)


def on_pre_build(config: MkDocsConfig, **kwargs: Any) -> None:
    """Check the protocol citations in the code, then warn about each public name that no
    page of the API reference documents."""
    _check_citations(Path(config.docs_dir))
    packages = {}
    for package_name in PUBLIC_PACKAGES:
        try:
            packages[package_name] = importlib.import_module(package_name)
        except ImportError as exc:
            log.warning("%s cannot be imported: %s", package_name, exc)
    if len(packages) < len(PUBLIC_PACKAGES):
        return
    reference = Path(config.docs_dir) / "reference"
    documented: set[int] = set()
    for page in sorted(reference.glob("*.md")):
        for dotted in _DIRECTIVE.findall(page.read_text(encoding="utf-8")):
            try:
                documented.add(id(_resolve(dotted)))
            except KeyError:
                log.warning(
                    "%s: '::: %s' is not defined in its module (a deprecated alias?)",
                    page.name,
                    dotted,
                )
            except (ImportError, AttributeError) as exc:
                log.warning("%s: '::: %s' cannot be imported: %s", page.name, dotted, exc)
    for package_name, package in packages.items():
        namespace = vars(package)
        for name in package.__all__:
            if name not in namespace:
                continue  # served by the package's __getattr__: a deprecated alias
            if id(namespace[name]) not in documented:
                log.warning(
                    "%s.%s is not in the API reference (docs/reference/*.md)", package_name, name
                )
