"""The query and account commands of `AsyncClient`, and ``ping``."""

from __future__ import annotations

from typing import Final

from ._base_client import _ClientBase
from ._codes import ErrorCode, MessageStatus
from ._exceptions import MessageLookupError, ReplyParseError, ValidationError
from ._models import Balance, Charge, Coverage, StatusInfo
from ._optable import OPERATIONS
from ._replies import expect_charge, expect_coverage, expect_credit, expect_ok, expect_status
from ._sending import attempt_climsgid, check_climsgid, normalize_one, one_key, op_options

__all__ = ["_QueryCommands"]

_OPS: Final = OPERATIONS
_QUERYMSG: Final = OPERATIONS["querymsg"]


class _QueryCommands(_ClientBase):
    """Queries, account commands and ``ping``."""

    # -- queries and account -----------------------------------------------------------------

    async def query(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """A message's status (``querymsg``) by ``apimsgid`` or ``climsgid``."""
        params = op_options(_QUERYMSG, one_key(apimsgid, climsgid))
        reply = await self._read(_QUERYMSG, params, expect_status)
        return StatusInfo(reply.apimsgid, reply.status)

    async def query_climsgid(self, climsgid: str) -> StatusInfo | None:
        """A request's status by the ``climsgid`` it was first sent with; None when the
        gateway knows neither it nor any of its resends.

        A resend after a lookup that concluded "missing" carries an id of its own, derived
        from the request's (``asms._sending.attempt_climsgid``): a journal that recorded the
        request's id settles an interrupted request with this. Raises
        :class:`MessageLookupError` when a lookup fails otherwise, or answers "message
        unknown" (which may mean "not reported yet"): not proof of absence.
        """
        check_climsgid(climsgid)
        ids = [climsgid]
        ids += [attempt_climsgid(climsgid, n) for n in range(1, self._retry.attempts)]
        for one in ids:
            try:
                status = await self.query(climsgid=one)
            except MessageLookupError as exc:
                if exc.code == ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID:
                    continue
                raise
            if status.status == MessageStatus.MESSAGE_UNKNOWN:
                raise MessageLookupError(ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID, "status 001")
            return status
        return None

    async def delete(
        self, apimsgid: str | None = None, *, climsgid: str | None = None
    ) -> StatusInfo:
        """Stop a message still queued at the gateway (``delmsg``); its status after."""
        op = _OPS["delmsg"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_status)
        return StatusInfo(reply.apimsgid, reply.status)

    async def charge(self, apimsgid: str | None = None, *, climsgid: str | None = None) -> Charge:
        """What a message cost and its status (``getmsgcharge``)."""
        op = _OPS["getmsgcharge"]
        params = op_options(op, one_key(apimsgid, climsgid))
        reply = await self._read(op, params, expect_charge)
        return Charge(reply.apimsgid, reply.charge, reply.status)

    async def balance(self) -> Balance:
        """The account's credits (``getbalance``)."""
        reply = await self._read(_OPS["getbalance"], {}, expect_credit)
        return Balance(reply.credit)

    async def route_coverage(self, msisdn: str) -> Coverage:
        """Whether messages to a number's prefix are routed, and their charge."""
        op = _OPS["routeCoverage"]
        number = normalize_one(msisdn, self._options.country_code)
        reply = await self._read(op, {"msisdn": number}, expect_coverage)
        return Coverage(number, reply.supported, reply.charge, reply.text)

    async def token_pay(self, token: str) -> float:
        """Redeem a 16-digit voucher; the credits it added. Never resent when in doubt."""
        op = _OPS["token_pay"]
        params = op_options(op, {"token": token})
        value = await self._run(op, params, expect_ok, "write")
        try:
            return float(value)
        except ValueError:
            raise ReplyParseError("token_pay answer without a number of credits") from None

    async def ping(self) -> None:
        """Extend the session (``ping``); authenticates first if there is no session."""
        self._ensure_open()
        if not self._options.session:
            raise ValidationError("session", "ping needs a session (session=True)")
        session_id, generation = await self._session.current()
        await self._ping(self._session, session_id, generation)
