"""A griffe extension for the API reference (mkdocs.yml): asms docstrings read as Markdown.

The docstrings are written for ``help()`` and IDEs, with a little reStructuredText in them:
roles such as ``:class:`Faults``` and literal blocks introduced by a trailing ``::``.
mkdocstrings renders Markdown, where those would show up as stray colons, so this rewrites a
role to a code span of what Sphinx would show (``Faults``) and ``text::`` to ``text:``
(the indented block after it is already a Markdown code block). An attribute documented by
``#:`` comment lines above it (Sphinx's convention, which griffe does not read) gets them as
its docstring. The source is unchanged.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:class|func|meth|attr|data|exc|obj|mod):`([~!]?)([^`]+)`")
_LITERAL_MARK = re.compile(r"(?m)(?<=\S)::$")
_BARE_LITERAL_MARK = re.compile(r"(?m)^[ \t]*::[ \t]*$")


def _role(match: re.Match[str]) -> str:
    """A role as a code span of what Sphinx would show (``~`` keeps the last name only)."""
    prefix, target = match.groups()
    if "<" in target:  # :class:`shown text <target>` shows the text
        return f"`{target.split('<', 1)[0].strip()}`"
    if prefix == "~":
        target = target.rsplit(".", 1)[-1]
    return f"`{target}`"


def to_markdown(text: str) -> str:
    """The docstring ``text`` with its reStructuredText roles and ``::`` marks rewritten."""
    text = _ROLE.sub(_role, text)
    text = _BARE_LITERAL_MARK.sub("", text)
    return _LITERAL_MARK.sub(":", text)


def _comment_docstring(obj: griffe.Object) -> str | None:
    """The ``#:`` comment lines right above an attribute (Sphinx's convention), joined."""
    if obj.lineno is None:
        return None
    try:
        lines = obj.module.lines
    except (AttributeError, ValueError):
        return None
    found: list[str] = []
    index = obj.lineno - 2  # the line above the assignment, 0-based
    while 0 <= index < len(lines) and lines[index].lstrip().startswith("#:"):
        found.append(lines[index].lstrip()[2:].strip())
        index -= 1
    return "\n".join(reversed(found)) or None


class RestToMarkdown(griffe.Extension):
    """Rewrite each docstring once, as its object is loaded."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s own docstring (aliases share their target's); an attribute
        without one takes its ``#:`` comment."""
        if obj.docstring is None and obj.is_attribute:
            text = _comment_docstring(obj)
            if text is not None:
                obj.docstring = griffe.Docstring(text, parent=obj)
        if obj.docstring is not None:
            obj.docstring.value = to_markdown(obj.docstring.value)
