"""Receive the gateway's callbacks: message status reports and inbound (MO) messages.

``CallbackReceiver`` is a plain ASGI app; mount it in any ASGI framework or serve it with
uvicorn, and give it async handlers::

    async def on_status(report: StatusReport) -> None: ...
    async def on_inbound(message: InboundMessage) -> None: ...

    app = CallbackReceiver(on_status=on_status, on_inbound=on_inbound, secret_path="s3cr3t")

The same receiver takes the legacy gateway's callbacks and the Platform wires' (Platform SMS
status and reply callbacks, One API event envelopes), into the same events; their ``wire``
field says which sent them. Every callback is treated as possibly repeated; see
``CallbackReceiver`` for the guarantees. A status report that names a ``clientMessageId``
also records its message as accepted (:meth:`CallbackStore.accepted`), which a bulk journal
sharing the store's file reads to resolve sends whose outcome was unknown.
Handled events are recorded in a SQLite file, by default the user's
(:func:`default_store_path`: ``$ASMS_CALLBACK_STORE``, else
``$XDG_STATE_HOME/asms/callbacks.sqlite3``, else ``~/.local/state/asms/callbacks.sqlite3``),
so restarts and workers of one user share what was handled. Give an application its own
file, the same for every worker and restart::

    app = CallbackReceiver(on_status=on_status, store="/var/lib/myapp/callbacks.sqlite3")

``store=False`` keeps the record in this process's memory only.
"""

from .._compat import show_as_public as _show_as_public
from .._exceptions import RetryLater
from ._events import InboundMessage, ReceiverStatistics, StatusReport
from ._log import EventLog
from ._receiver import CallbackReceiver, InboundHandler, StatusHandler
from ._store import CallbackStore, default_store_path

__all__ = [
    "CallbackReceiver",
    "CallbackStore",
    "default_store_path",
    "EventLog",
    "InboundHandler",
    "InboundMessage",
    "ReceiverStatistics",
    "RetryLater",
    "StatusHandler",
    "StatusReport",
]


# ``asms``, which re-exports a few of these, renames them again after this runs.
_show_as_public(__name__, globals(), __all__)
del _show_as_public
