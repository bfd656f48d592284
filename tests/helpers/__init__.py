"""Helpers shared by the test folders (fakes, a campaign child process, the stateful model,
the command line, the emulator's demo account, free ports)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
"""The repository's root: where ``python -m asms`` runs from and the README and examples are."""
