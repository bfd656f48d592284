"""asms: async, high-throughput SMS sending for the Clickatell legacy gateway.

Everything public is importable from here; the modules behind it are private.
"""

import typing as _typing

from ._batch import Batch
from ._bulk.journal import Journal, JournalCampaign
from ._bulk.ratelimit import RateLimiter, RateLimiterStatistics
from ._bulk.report import BulkReport, BulkResult, BulkStatistics
from ._bulk.run import BulkRun, RequestSender
from ._campaign import (
    CampaignStatus,
    CampaignSubmission,
    CampaignWorker,
    HistogramSnapshot,
    MetricsSnapshot,
    WorkerMetrics,
    campaign_results,
    campaign_status,
    serve_metrics,
    submit_campaign,
)
from ._client import AsyncClient
from ._clock import Clock, SystemClock, VirtualClock
from ._codes import ErrorCategory, ErrorCode, Feature, MessageStatus
from ._compat import show_as_public as _show_as_public
from ._config import ApiKey, Credentials, RetryPolicy
from ._encoding import PartCount, count_binary_parts, count_parts, split_parts
from ._exceptions import (
    ASMSError,
    AuthenticationError,
    BatchError,
    CampaignError,
    CampaignMismatchError,
    CampaignNotFoundError,
    ClientClosedError,
    ConnectError,
    ConnectionLost,
    ConnectTimeout,
    CreditError,
    DestinationError,
    GatewayError,
    HTTPStatusError,
    InternalGatewayError,
    InvalidNumberError,
    JournalError,
    JournalFinishedError,
    JournalLockedError,
    JournalMismatchError,
    MessageLookupError,
    ParameterError,
    PoolTimeout,
    ProtocolError,
    ReadTimeout,
    RedisError,
    ReplyParseError,
    RequestTimeout,
    RetryLater,
    SessionError,
    SOAPFault,
    ThrottledError,
    TLSError,
    TransportError,
    UnsupportedCommandError,
    ValidationError,
    WriteTimeout,
)
from ._limiter import Limiter
from ._models import (
    NOT_SENT,
    OUTCOME_UNKNOWN,
    Balance,
    Charge,
    Coverage,
    DeliveryState,
    Message,
    SendOptions,
    SendResult,
    StatusInfo,
)
from ._numbers import normalize_many, normalize_msisdn
from ._platform_codes import OneApiErrorCode, OneApiStatus, PlatformErrorCode
from ._redis.ratelimit import RedisRateLimiter, account_rate
from ._results import SendResults
from ._retry import ClientStatistics
from ._transport import AsyncTransport, make_transport, request_was_sent
from ._version import __version__
from .callbacks import CallbackReceiver, InboundMessage, StatusReport

__all__ = [
    "__version__",
    "account_rate",
    "ApiKey",
    "ASMSError",
    "AsyncClient",
    "AsyncTransport",
    "AuthenticationError",
    "Balance",
    "Batch",
    "BatchError",
    "BulkReport",
    "BulkResult",
    "BulkRun",
    "BulkStatistics",
    "CallbackReceiver",
    "campaign_results",
    "campaign_status",
    "CampaignError",
    "CampaignMismatchError",
    "CampaignNotFoundError",
    "CampaignStatus",
    "CampaignSubmission",
    "CampaignWorker",
    "Charge",
    "ClientClosedError",
    "ClientStatistics",
    "Clock",
    "ConnectError",
    "ConnectionLost",
    "ConnectTimeout",
    "count_binary_parts",
    "count_parts",
    "Coverage",
    "Credentials",
    "CreditError",
    "DeliveryState",
    "DestinationError",
    "ErrorCategory",
    "ErrorCode",
    "Feature",
    "GatewayError",
    "HistogramSnapshot",
    "HTTPStatusError",
    "InboundMessage",
    "InternalGatewayError",
    "InvalidNumberError",
    "Journal",
    "JournalCampaign",
    "JournalError",
    "JournalFinishedError",
    "JournalLockedError",
    "JournalMismatchError",
    "Limiter",
    "make_transport",
    "Message",
    "MessageLookupError",
    "MessageStatus",
    "MetricsSnapshot",
    "normalize_many",
    "normalize_msisdn",
    "NOT_SENT",
    "OneApiErrorCode",
    "OneApiStatus",
    "OUTCOME_UNKNOWN",
    "ParameterError",
    "PartCount",
    "PlatformErrorCode",
    "PoolTimeout",
    "ProtocolError",
    "RateLimiter",
    "RateLimiterStatistics",
    "ReadTimeout",
    "RedisError",
    "RedisRateLimiter",
    "ReplyParseError",
    "request_was_sent",
    "RequestSender",
    "RequestTimeout",
    "RetryLater",
    "RetryPolicy",
    "SendOptions",
    "SendResult",
    "SendResults",
    "serve_metrics",
    "SessionError",
    "SOAPFault",
    "split_parts",
    "StatusInfo",
    "StatusReport",
    "submit_campaign",
    "SystemClock",
    "ThrottledError",
    "TLSError",
    "TransportError",
    "UnsupportedCommandError",
    "ValidationError",
    "VirtualClock",
    "WorkerMetrics",
    "WriteTimeout",
]

_show_as_public(__name__, globals(), __all__)
del _show_as_public


# Old names kept for one release: a DeprecationWarning on use, then removed.
_DEPRECATED: dict[str, str] = {"BatchSender": "RequestSender"}

if _typing.TYPE_CHECKING:
    # Type checkers see an old name as what it stands for (the warning is for run time).
    BatchSender = RequestSender
else:

    def __getattr__(name: str) -> object:
        """An old name's object, with a :class:`DeprecationWarning` naming the new one."""
        new = _DEPRECATED.get(name)
        if new is None:
            raise AttributeError(f"module 'asms' has no attribute {name!r}")
        import warnings

        warnings.warn(
            f"asms.{name} is deprecated: use asms.{new}", DeprecationWarning, stacklevel=2
        )
        return globals()[new]
