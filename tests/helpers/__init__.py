"""Helpers shared by the test folders: bulk fakes and runs, a campaign child process, the
stateful model, the command line, the emulator's demo account, a scripted HTTP server and
free ports. Import them as ``from helpers.cli import make_cli`` (``tests`` is on the path)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root: where ``python -m asms`` runs from and the README and examples are."""
