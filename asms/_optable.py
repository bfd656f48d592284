"""The operation table: every command of the legacy gateway, in one place.

The emulator validates and answers from it, the client wires build requests from it and the
emulator's WSDL is generated from it. Nothing else in the package lists parameters, their
types, their limits or their order on the SOAP wires.

Names: a parameter's ``name`` is its HTTP spelling (``callback``, ``climsgid``). ``soap_name``
is its document/literal element name (``msg_callback``); ``rpc_name`` its RPC/encoded part name
(``cliMsgId``). ``aliases`` are other spellings the gateway accepts on input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Final, Literal

__all__ = [
    "AUTH_NAMES",
    "CLIMSGID_PATTERN",
    "HEX_PAIRS",
    "HEX_PAIRS_RE",
    "DL_NAMESPACE",
    "MAX_CALLBACK",
    "MAX_CONCAT",
    "MSG_TYPES",
    "OPERATIONS",
    "RPC_NAMESPACE",
    "Operation",
    "Param",
    "ParamType",
    "ReplyForm",
    "operation_by_http_path",
    "operation_by_soap_name",
]

DL_NAMESPACE = "http://api.clickatell.com/soap/document_literal/webservice"
RPC_NAMESPACE = "http://api.clickatell.com/soap/webservice"

ParamType = Literal["int", "str", "float", "list"]


class ReplyForm(StrEnum):
    """What a successful reply looks like (docs/protocol.md, "Replies")."""

    SESSION = "session"  # OK: <session_id>
    OK = "ok"  # OK: / OK
    ID = "id"  # ID: <id>  (one line)
    IDS = "ids"  # ID: <id> To: <msisdn>, one line per recipient (or ID: <id> for one)
    STATUS = "status"  # ID: <id> Status: <code>
    CHARGE = "charge"  # ID: <id> Charge: <f> Status: <code> / apiMsgId: … charge: … status: …
    CREDIT = "credit"  # Credit: <float>
    COVERAGE = "coverage"  # OK: <text> Charge: <n> / ERR: <text>
    TOKEN = "token"  # OK: <credits added>


@dataclass(frozen=True, slots=True)
class Param:
    """One request parameter and the rule it must satisfy."""

    name: str
    type: ParamType = "str"
    required: bool = False
    soap_name: str | None = None  # document/literal element; None: same as name
    rpc_name: str | None = None  # RPC/encoded part; None: same as soap element
    soap_type: str | None = None  # xsd type on doc/literal when it differs ("int" max_credits)
    rpc_type: str | None = None  # xsd type on RPC/encoded when it differs
    aliases: tuple[str, ...] = ()
    minimum: float | None = None
    maximum: float | None = None
    max_length: int | None = None
    pattern: str | None = None  # full-match regular expression
    choices: tuple[str, ...] | None = None
    rule: str = ""  # the rule in words, for error messages
    wires: str = "hdr"  # h: HTTP, d: SOAP document/literal, r: SOAP RPC/encoded

    @property
    def dl(self) -> str:
        return self.soap_name or self.name

    @property
    def rpc(self) -> str:
        return self.rpc_name or self.dl

    def xsd_type(self, style: Literal["dl", "rpc"]) -> str:
        """The XML Schema type name (without prefix) of this parameter on a SOAP wire."""
        override = self.soap_type if style == "dl" else self.rpc_type
        if override:
            return override
        return {"int": "int", "float": "float", "str": "string", "list": "string"}[self.type]

    def check(self, value: str) -> str | None:
        """Return the broken rule for a wire value, or None when it is acceptable."""
        if self.type in ("int", "float"):
            try:
                number = int(value) if self.type == "int" else float(value)
            except ValueError:
                return self.rule or f"must be a{'n integer' if self.type == 'int' else ' number'}"
            if self.minimum is not None and number < self.minimum:
                return self.rule or f"must be at least {self.minimum:g}"
            if self.maximum is not None and number > self.maximum:
                return self.rule or f"must be at most {self.maximum:g}"
            return None
        if self.max_length is not None and len(value) > self.max_length:
            return self.rule or f"must be at most {self.max_length} characters"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return self.rule or f"must match {self.pattern}"
        if self.choices is not None and value not in self.choices:
            return self.rule or f"must be one of {', '.join(self.choices)}"
        return None


@dataclass(frozen=True, slots=True)
class Operation:
    """One gateway command on every wire."""

    name: str  # canonical (HTTP) command name
    http_path: str  # path without ".php"
    params: tuple[Param, ...]  # document/literal order, auth parameters excluded
    reply: ReplyForm
    soap_name: str = ""  # document/literal operation; "" means same as name
    rpc_name: str = ""  # RPC/encoded operation; "" means same as name
    rpc_order: tuple[str, ...] = ()  # parameter names in RPC part order; () means params order
    auth: Literal["credentials", "session", "any"] = "any"
    multi: bool = False  # more than one return line possible
    rpc_array: bool = True  # RPC/encoded return is ArrayOfString (else xsd:string)
    fields: int = 0  # senditem: field1..fieldN on doc/literal
    _by_name: Mapping[str, Param] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        index: dict[str, Param] = {}
        for p in self.params:
            for spelling in (p.name, p.dl, p.rpc, *p.aliases):
                index.setdefault(spelling, p)
        object.__setattr__(self, "_by_name", index)

    @property
    def dl(self) -> str:
        return self.soap_name or self.name

    @property
    def rpc(self) -> str:
        return self.rpc_name or self.name

    def param(self, spelling: str) -> Param | None:
        """The parameter any accepted spelling refers to."""
        return self._by_name.get(spelling)

    def http_params(self) -> tuple[Param, ...]:
        """Parameters the HTTP API accepts (auth parameters excluded)."""
        return tuple(p for p in self.params if "h" in p.wires)

    def dl_params(self) -> tuple[Param, ...]:
        """Parameters in document/literal element order (auth parameters excluded)."""
        return tuple(p for p in self.params if "d" in p.wires)

    def rpc_params(self) -> tuple[Param, ...]:
        """Parameters in RPC/encoded part order (auth parameters excluded)."""
        if not self.rpc_order:
            return tuple(p for p in self.params if "r" in p.wires)
        return tuple(self._by_name[n] for n in self.rpc_order)

    def auth_params(self, style: Literal["dl", "rpc"]) -> tuple[Param, ...]:
        """The authentication elements this operation carries on a SOAP wire, in order."""
        if self.name == "auth":
            return AUTH_PARAMS[1:]
        if self.name == "ping":
            return AUTH_PARAMS[:1]
        return AUTH_PARAMS


# -- building blocks ----------------------------------------------------------------------

#: The most parts the gateway joins into one message: the top of ``concat``
#: (docs/protocol.md, "Limits"; an account's own limit is lower, ``DEFAULT_MAX_PARTS``).
MAX_CONCAT: Final = 35
#: The largest ``callback`` value: which statuses a message asks to be told about
#: (docs/protocol.md, "Limits"; the v2.3.8 profile stops at 3).
MAX_CALLBACK: Final = 7

AUTH_PARAMS: tuple[Param, ...] = (
    Param("session_id", pattern=r"[0-9a-fA-F]{32}", rule="must be a 32-character hex session id"),
    Param("api_id", "int", rpc_type="int", rule="must be an integer API id", minimum=0),
    Param("user", max_length=200),
    Param("password", max_length=200),
)
#: The names of the credentials a request may carry.
AUTH_NAMES: frozenset[str] = frozenset(param.name for param in AUTH_PARAMS)
#: What a client message id may be (the client checks it before sending, the emulator on arrival).
CLIMSGID_PATTERN: Final = r"[A-Za-z0-9]{1,32}"
#: Hex bytes: an even number of hex digits (``udh``, ``data``).
HEX_PAIRS: Final = r"(?:[0-9A-Fa-f]{2})+"
HEX_PAIRS_RE: Final = re.compile(HEX_PAIRS)

_TO = Param("to", "list", required=True, rule="must be one or more international numbers")
_FROM = Param(
    "from",
    pattern=r"[0-9]{1,16}|[A-Za-z0-9 .\-_&]{1,11}",
    rule="must be 1-16 digits or up to 11 alphanumeric characters",
)
_TEXT = Param(
    "text",
    max_length=MAX_CONCAT * 160 * 4,
    rule=f"must be at most {MAX_CONCAT * 160 * 4} characters",
)
_CONCAT = Param(
    "concat",
    "int",
    minimum=1,
    maximum=MAX_CONCAT,
    rule=f"must be an integer from 1 to {MAX_CONCAT}",
)
_CALLBACK = Param(
    "callback",
    "int",
    soap_name="msg_callback",
    aliases=("msg_callback",),
    minimum=0,
    maximum=MAX_CALLBACK,
    rule=f"must be an integer from 0 to {MAX_CALLBACK}",
)
_DELIV_ACK = Param("deliv_ack", "int", minimum=0, maximum=1, rule="must be 0 or 1")
_DELIV_TIME = Param(
    "deliv_time", "int", minimum=1, maximum=10080, rule="must be minutes from 1 to 10080"
)
_SCHEDULED = Param(
    "scheduled_time", "int", minimum=0, rule="must be a unix time at most 7 days ahead"
)
_MAX_CREDITS = Param(
    "max_credits",
    "float",
    soap_type="int",
    rpc_type="float",
    minimum=0,
    rule="must be a non-negative number of credits",
)
_REQ_FEAT = Param("req_feat", "int", minimum=0, maximum=65535, rule="must be a feature bitmask")
_QUEUE = Param("queue", "int", minimum=1, maximum=3, rule="must be 1, 2 or 3")
_ESCALATE = Param("escalate", "int", minimum=0, maximum=1, rule="must be 0 or 1")
_MO = Param("mo", "int", minimum=0, maximum=1, rule="must be 0 or 1")
_CLIMSGID = Param(
    "climsgid",
    rpc_name="cliMsgId",
    aliases=("cliMsgId",),
    pattern=CLIMSGID_PATTERN,
    rule="must be 1-32 characters of [A-Za-z0-9]",
)
_UNICODE = Param("unicode", "int", minimum=0, maximum=1, rule="must be 0 or 1")
MSG_TYPES = (
    "SMS_TEXT",
    "SMS_FLASH",
    "SMS_NOKIA_OLOGO",
    "SMS_NOKIA_GLOGO",
    "SMS_NOKIA_PICTURE",
    "SMS_NOKIA_RINGTONE",
    "SMS_NOKIA_RTTL",
    "SMS_NOKIA_CLEAN",
    "SMS_NOKIA_VCARD",
    "SMS_NOKIA_VCAL",
)
_MSG_TYPE = Param("msg_type", choices=MSG_TYPES, rule="must be one of " + ", ".join(MSG_TYPES))
_UDH = Param("udh", pattern=HEX_PAIRS, max_length=280, rule="must be an even number of hex digits")
_DATA = Param(
    "data",
    pattern=HEX_PAIRS,
    max_length=MAX_CONCAT * 280,
    rule="must be an even number of hex digits",
)
_VALIDITY = Param("validity", "int", minimum=1, maximum=1440, rule="must be minutes from 1 to 1440")
_BINARY = Param("binary", "int", minimum=0, maximum=1, rule="must be 0 or 1")
_APIMSGID = Param(
    "apimsgid",
    aliases=("apiMsgId",),
    pattern=r"[0-9a-fA-F]{32}",
    rule="must be a 32-character hex message id",
)
_BATCH_ID = Param(
    "batch_id", required=True, pattern=r"[0-9a-fA-F]{32}", rule="must be a 32-character hex id"
)

#: Options every sending command shares, in document/literal order after "from".
_SEND_TAIL = (
    _CONCAT,
    _CALLBACK,
    _DELIV_ACK,
    _DELIV_TIME,
    _MAX_CREDITS,
    _REQ_FEAT,
    _QUEUE,
    _ESCALATE,
    _MO,
    _CLIMSGID,
    _UNICODE,
    _MSG_TYPE,
    _UDH,
    _DATA,
    _VALIDITY,
)
#: Options HTTP accepts beyond the WSDL (docs/protocol.md, "Limits").
HTTP_ONLY = (replace(_SCHEDULED, wires="h"), replace(_BINARY, wires="h"))
#: querymsg/delmsg spell the client id ``climsgid`` on RPC/encoded too.
_CLIMSGID_Q = replace(_CLIMSGID, rpc_name=None)

_PUSH_TAIL = (
    _FROM,
    _CONCAT,
    _DELIV_ACK,
    _CALLBACK,
    _DELIV_TIME,
    _MAX_CREDITS,
    _REQ_FEAT,
    _QUEUE,
    _ESCALATE,
    _MO,
    _CLIMSGID,
)

#: RPC/encoded senditem carries only field1..field4 (WSDL-VS).
_FIELDS = tuple(
    Param(f"field{i}", max_length=1000, wires="hdr" if i <= 4 else "hd") for i in range(1, 11)
)

OPERATIONS: Mapping[str, Operation] = {
    op.name: op
    for op in (
        Operation(
            "auth",
            "/http/auth",
            (),
            ReplyForm.SESSION,
            auth="credentials",
            rpc_array=False,
        ),
        Operation(
            "ping",
            "/http/ping",
            (),
            ReplyForm.OK,
            auth="session",
            rpc_array=False,
        ),
        Operation(
            "sendmsg",
            "/http/sendmsg",
            (_TEXT, _TO, _FROM, *_SEND_TAIL, *HTTP_ONLY),
            ReplyForm.IDS,
            multi=True,
            rpc_order=(
                "to",
                "from",
                "text",
                "concat",
                "deliv_ack",
                "callback",
                "deliv_time",
                "max_credits",
                "req_feat",
                "queue",
                "escalate",
                "mo",
                "climsgid",
                "unicode",
                "msg_type",
                "udh",
                "data",
                "validity",
            ),
        ),
        Operation("querymsg", "/http/querymsg", (_APIMSGID, _CLIMSGID_Q), ReplyForm.STATUS),
        Operation("delmsg", "/http/delmsg", (_APIMSGID, _CLIMSGID_Q), ReplyForm.STATUS),
        Operation("getbalance", "/http/getbalance", (), ReplyForm.CREDIT, rpc_array=False),
        Operation(
            "routeCoverage",
            "/utils/routeCoverage",
            (Param("msisdn", required=True, pattern=r"[0-9]{1,15}", rule="must be digits"),),
            ReplyForm.COVERAGE,
            soap_name="routecoverage",
            rpc_array=False,
        ),
        Operation(
            "si_push",
            "/mms/si_push",
            (
                _TO,
                Param("si_id", required=True, max_length=200),
                Param("si_url", required=True, max_length=2000),
                Param("si_text", required=True, max_length=500),
                Param(
                    "si_created",
                    pattern=r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                    rule="must be UTC YYYY-MM-DDTHH:MM:SSZ",
                ),
                Param(
                    "si_expires",
                    pattern=r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ",
                    rule="must be UTC YYYY-MM-DDTHH:MM:SSZ",
                ),
                Param(
                    "si_action",
                    choices=("signal-none", "signal-low", "signal-medium", "signal-high", "delete"),
                ),
                *_PUSH_TAIL,
                replace(_UNICODE, wires="hd"),
                _VALIDITY,
            ),
            ReplyForm.IDS,
            multi=True,
        ),
        Operation(
            "ind_push",
            "/mms/ind_push",
            (
                _TO,
                Param("mms_subject", required=True, max_length=200),
                Param(
                    "mms_class",
                    required=True,
                    choices=("80", "81", "82", "83"),
                    rule="must be 80, 81, 82 or 83",
                ),
                Param(
                    "mms_expire",
                    required=True,
                    pattern=r"[0-9]{1,9}",
                    rule="must be seconds",
                ),
                Param("mms_from", required=True, max_length=200),
                Param("mms_url", required=True, max_length=2000),
                *_PUSH_TAIL,
                _VALIDITY,
            ),
            ReplyForm.IDS,
            multi=True,
        ),
        Operation(
            "token_pay",
            "/http/token_pay",
            (
                Param(
                    "token",
                    required=True,
                    pattern=r"[0-9]{16}",
                    rule="must be a 16-digit voucher number",
                ),
            ),
            ReplyForm.TOKEN,
            rpc_array=False,
        ),
        Operation(
            "startbatch",
            "/http_batch/startbatch",
            (
                _FROM,
                _CONCAT,
                Param("template", required=True, max_length=MAX_CONCAT * 160 * 4),
                _DELIV_ACK,
                _CALLBACK,
                _DELIV_TIME,
                _MAX_CREDITS,
                _REQ_FEAT,
                _QUEUE,
                _ESCALATE,
                _MO,
                _CLIMSGID,
                _UNICODE,
                _MSG_TYPE,
                _UDH,
                replace(_DATA, wires="hr"),
                _VALIDITY,
                *HTTP_ONLY,
            ),
            ReplyForm.ID,
        ),
        Operation(
            "senditem",
            "/http_batch/senditem",
            (_BATCH_ID, _TO, *_FIELDS),
            ReplyForm.IDS,
            multi=True,
            fields=10,
        ),
        Operation(
            "quicksend", "/http_batch/quicksend", (_BATCH_ID, _TO), ReplyForm.IDS, multi=True
        ),
        Operation("endbatch", "/http_batch/endbatch", (_BATCH_ID,), ReplyForm.OK),
        Operation(
            "getmsgcharge",
            "/http/getmsgcharge",
            (_APIMSGID, replace(_CLIMSGID_Q, wires="h")),
            ReplyForm.CHARGE,
        ),
    )
}

_BY_PATH = {op.http_path.lower(): op for op in OPERATIONS.values()}
_BY_SOAP = {
    **{op.rpc.lower(): op for op in OPERATIONS.values()},
    **{op.dl.lower(): op for op in OPERATIONS.values()},
}


def operation_by_http_path(path: str) -> Operation | None:
    """The operation served at an HTTP path, with or without ``.php`` (case-insensitive)."""
    key = path.rstrip("/").lower()
    if key.endswith(".php"):
        key = key[:-4]
    return _BY_PATH.get(key)


def operation_by_soap_name(name: str) -> Operation | None:
    """The operation a SOAP body element names (either style's spelling)."""
    return _BY_SOAP.get(name.lower())
