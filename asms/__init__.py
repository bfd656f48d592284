"""asms: async, high-throughput SMS sending for the Clickatell legacy gateway."""

from ._version import __version__

__all__ = ["__version__"]
