"""Console entry point: ``asms`` (needs the ``cli`` extra)."""

from __future__ import annotations

import sys


def main() -> None:
    try:
        from ._cli import cli
    except KeyboardInterrupt:  # Ctrl-C while the command line loads
        raise SystemExit(130) from None
    except ImportError as exc:  # pragma: no cover - depends on the environment
        missing = getattr(exc, "name", None) or str(exc)
        sys.stderr.write(
            f"The asms command line needs the 'cli' extra ({missing} is missing):\n"
            "    pip install 'asms[cli]'\n"
        )
        raise SystemExit(2) from None
    from ._cli._stop import install

    install()
    cli()
