"""Receive the gateway's callbacks: message status reports and inbound (MO) messages.

``CallbackReceiver`` is a plain ASGI app; mount it in any ASGI framework or serve it with
uvicorn, and give it async handlers::

    async def on_status(report: StatusReport) -> None: ...
    async def on_inbound(message: InboundMessage) -> None: ...

    app = CallbackReceiver(on_status=on_status, on_inbound=on_inbound, secret_path="s3cr3t")

Every callback is treated as possibly repeated; see ``CallbackReceiver`` for the guarantees.
Give every worker and restart the same store file so they share what was handled::

    app = CallbackReceiver(on_status=on_status, store="/var/lib/myapp/callbacks.sqlite3")
"""

from ._events import InboundMessage, ReceiverStatistics, StatusReport
from ._log import EventLog
from ._receiver import CallbackReceiver, InboundHandler, StatusHandler
from ._store import CallbackStore

__all__ = [
    "CallbackReceiver",
    "CallbackStore",
    "EventLog",
    "InboundHandler",
    "InboundMessage",
    "ReceiverStatistics",
    "StatusHandler",
    "StatusReport",
]
