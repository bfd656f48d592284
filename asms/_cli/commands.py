"""The gateway commands of the ``asms`` command line: send, status, balance, coverage, demo,
and the distributed mode's worker and campaign.

``COMMANDS`` lists every command of this package except ``emulator``; the group in
``asms/_cli/__init__.py`` registers them.
"""

from __future__ import annotations

import json
import signal
import sys
from datetime import datetime
from typing import Any, Final

import click
from rich.markup import escape
from rich.table import Table

from .._codes import ErrorCode, MessageStatus
from .._config import DEFAULT_MAX_PARTS
from .._exceptions import MessageLookupError
from .._models import OUTCOME_UNKNOWN, Balance, SendResult
from .._optable import MAX_CALLBACK, MAX_CONCAT, MSG_TYPES
from .._platform_codes import OneApiStatus
from .._results import SendResults
from ._common import (
    EXIT_FAILED,
    EXIT_OK,
    ConfigError,
    FiniteFloat,
    Settings,
    check_country_code,
    connection_options,
    err_console,
    error_text,
    out_console,
    status_text,
)
from ._interrupts import exit_status
from ._sendstop import SendOutcome, send_stoppable, unknown_lines
from ._stop import discard_stdout
from .bulk import bulk
from .callbacks import callbacks
from .campaign import campaign
from .worker import worker

__all__ = ["COMMANDS", "balance", "coverage", "demo", "send", "status"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")


def _print_json(data: Any) -> None:
    # Plain stdout, not rich: JSON must come out byte for byte, without wrapping.
    click.echo(json.dumps(data, ensure_ascii=False))


def _schedule(value: str | None) -> int | None:
    """``--scheduled-time``: unix seconds, or an ISO 8601 time with a UTC offset."""
    if value is None:
        return None
    if value.isdigit():
        return int(value)
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            "give unix seconds or an ISO time such as 2030-01-31T09:00+02:00",
            param_hint="--scheduled-time",
        ) from None
    if stamp.tzinfo is None:
        raise click.BadParameter("the time needs a UTC offset", param_hint="--scheduled-time")
    return int(stamp.timestamp())


def result_record(result: SendResult) -> dict[str, Any]:
    return {
        "to": result.to,
        "accepted": result.error_code is None,
        "apimsgid": result.apimsgid,
        "climsgid": result.climsgid,
        "parts": result.parts,
        "error_code": None if result.error_code is None else int(result.error_code),
        "error_description": result.error_description,
    }


@click.command()
@click.argument("to", nargs=-1, required=True)
@click.option("--text", "-t", required=True, help="The message text ('-' reads standard input).")
@click.option("--from", "from_", metavar="SENDER", help="Sender: digits or an alphanumeric id.")
@click.option(
    "--callback",
    type=click.IntRange(0, MAX_CALLBACK),
    help=f"Which statuses to call back (0-{MAX_CALLBACK}).",
)
@click.option("--climsgid", metavar="ID", help="Your id for the message (1-32 alphanumerics).")
@click.option("--concat", type=click.IntRange(1, MAX_CONCAT), help="Most parts the text may use.")
@click.option("--deliv-ack", is_flag=True, default=None, help="Ask for a delivery ack.")
@click.option("--deliv-time", type=click.IntRange(1, 10080), help="Delay delivery (minutes).")
@click.option("--scheduled-time", metavar="TIME", help="Deliver at (unix seconds or ISO time).")
@click.option("--validity", type=click.IntRange(1, 1440), help="Minutes the message stays valid.")
@click.option("--queue", type=click.IntRange(1, 3), help="Queue priority, 1 highest.")
@click.option("--max-credits", type=FiniteFloat(min=0), help="Most credits to spend.")
@click.option("--mo", is_flag=True, default=None, help="Send from a two-way number.")
@click.option("--escalate", is_flag=True, default=None, help="Escalate to an alternative route.")
@click.option("--msg-type", type=click.Choice(MSG_TYPES), help="Message type (default text).")
@click.option("--country-code", metavar="CC", help="Country code for national (0...) numbers.")
@click.option(
    "--max-parts",
    type=click.IntRange(1, MAX_CONCAT),
    help=f"Most parts a text may use without --concat [default: {DEFAULT_MAX_PARTS}]; longer "
    "ones are refused before sending (each part is billed).",
)
@json_option
@connection_options
def send(
    to: tuple[str, ...],
    text: str,
    settings: Settings,
    country_code: str | None,
    max_parts: int | None,
    as_json: bool,
    scheduled_time: str | None,
    **options: Any,
) -> None:
    """Send one text to one or more numbers.

    TO are numbers in international format (27821234567; +27 82 123 4567 works too),
    as separate arguments or comma-separated. Exits 1 when any recipient was not accepted.

    The account is ASMS_API_ID, ASMS_USER and ASMS_PASSWORD (the legacy gateway), or
    ASMS_API_KEY (the Platform: its SMS REST API, or the One API with --wire one-api).
    The Platform wires have no --callback, --deliv-ack, --deliv-time, --queue,
    --max-credits, --mo, --escalate or --msg-type (each is refused, exit 2); the One API
    has no --validity or --scheduled-time either. A Platform send whose reply is lost is
    never resent: its recipients show "outcome unknown" (its status callback settles it).
    """
    check_country_code(country_code)
    if text == "-":
        text = sys.stdin.read().rstrip("\n")
    # "27821...,27822..." is accepted as well as separate arguments.
    numbers = [n.strip() for item in to for n in item.split(",") if n.strip()]
    if not numbers:
        raise click.BadParameter("no phone number given", param_hint="TO")
    chosen = {k: v for k, v in options.items() if v is not None}
    if "from_" in chosen:
        chosen["from"] = chosen.pop("from_")
    stamp = _schedule(scheduled_time)
    if stamp is not None:
        chosen["scheduled_time"] = stamp

    climsgid = chosen.pop("climsgid", None)

    async def main() -> SendOutcome:
        extra: dict[str, Any] = {"country_code": country_code} if country_code else {}
        if max_parts is not None:
            extra["max_parts"] = max_parts
        async with settings.client(**extra) as client:
            return await send_stoppable(
                client,
                text,
                numbers,
                climsgid=climsgid,
                country_code=country_code,
                options=chosen,
            )

    sent = settings.run(main)
    if sent.results is None:  # interrupted: the gateway may have what was in flight
        # One line per request, with what to run before any rerun: a blind rerun could
        # send the committed ones twice.
        for line in unknown_lines(sent, settings.wire):
            click.echo(line, err=True)
        raise SystemExit(exit_status(sent.signal or signal.SIGINT))
    results = sent.results
    failed = sum(1 for r in results if r.error_code is not None)
    _explain_refused_parts(results)
    _explain_unknown(results, settings)
    try:
        if as_json:
            _print_json([result_record(r) for r in results])
        else:
            _print_results(results, f"{len(results) - failed} of {len(results)} accepted")
        sys.stdout.flush()
    except BrokenPipeError:  # the reader stopped early: the exit status still tells
        discard_stdout()
    raise SystemExit(EXIT_FAILED if failed else EXIT_OK)


# Borders and padding of a five-column table, and the least room for the result column.
_TABLE_FRAME: Final = 16
_RESULT_ROOM: Final = 8


def _print_results(results: SendResults, title: str) -> None:
    """A table on a terminal wide enough for whole ids, else tab-separated lines.

    Ids are never wrapped or cut: they are what you query by and what you copy.
    """
    console = out_console()
    cells = [
        (
            r.to,
            "accepted" if r.error_code is None else error_text(r.error_code, r.error_description),
            r.apimsgid or "-",
            r.climsgid or "-",
            str(r.parts),
        )
        for r in results
    ]
    fixed = [max([len("to")] + [len(c[0]) for c in cells])]
    fixed += [max([len(name)] + [len(c[i]) for c in cells]) for i, name in _ID_COLUMNS]
    needed = sum(fixed) + len("parts") + _RESULT_ROOM + _TABLE_FRAME
    if not console.is_terminal or console.width < needed:
        # Plain lines: piped output is read by programs, and a narrow terminal would wrap.
        click.echo(title)
        click.echo("\t".join(("to", "result", "apimsgid", "climsgid", "parts")))
        for row in cells:
            click.echo("\t".join(row))
        return
    table = Table(title=title)
    table.add_column("to", no_wrap=True)
    table.add_column("result")
    table.add_column("apimsgid", no_wrap=True)
    table.add_column("climsgid", no_wrap=True)
    table.add_column("parts", justify="right", no_wrap=True)
    for to, outcome, apimsgid, climsgid, parts in cells:
        shown = "[green]accepted[/]" if outcome == "accepted" else f"[red]{escape(outcome)}[/]"
        table.add_row(escape(to), shown, escape(apimsgid), escape(climsgid), parts)
    console.print(table)


_ID_COLUMNS: Final = ((2, "apimsgid"), (3, "climsgid"))


def _explain_unknown(results: SendResults, settings: Settings) -> None:
    """On a Platform wire an outcome unknown stays unknown: say what not to do about it."""
    if not settings.platform:
        return  # the legacy wires looked it up by climsgid already
    unknown = [r for r in results if r.error_code == OUTCOME_UNKNOWN]
    if not unknown:
        return
    ids = sorted({r.climsgid for r in unknown if r.climsgid})
    err_console().print(
        f"[yellow]Note:[/] {len(unknown)} recipient(s) may have been sent (the reply was "
        f"lost); the {settings.wire} wire cannot look a message up by climsgid, so sending "
        "again may send twice: their status callbacks carry climsgid " + escape(", ".join(ids))
    )


def _status_description(state: MessageStatus | int) -> str | None:
    if isinstance(state, MessageStatus):
        return state.description
    if isinstance(state, OneApiStatus):
        return state.name.replace("_", " ").capitalize()
    return None


def _explain_refused_parts(results: SendResults) -> None:
    """ERR 101 for a long text is most often the gateway's limit on parts: say so."""
    refused = [r.parts for r in results if r.error_code == 101 and r.parts > 1]
    if refused:
        err_console().print(
            f"[yellow]Note:[/] the gateway refused a {max(refused)}-part message with 101: "
            "its limit on parts may be lower (asms emulator allows 3 unless started with "
            "--max-parts)"
        )


@click.command()
@click.argument("apimsgid", required=False)
@click.option("--climsgid", metavar="ID", help="Look the message up by your own id instead.")
@click.option("--charge", is_flag=True, help="Also ask what the message cost (getmsgcharge).")
@json_option
@connection_options
def status(
    apimsgid: str | None, climsgid: str | None, charge: bool, as_json: bool, settings: Settings
) -> None:
    """Show the status of a message, by APIMSGID or --climsgid.

    With ASMS_API_KEY (the platform and one-api wires) a message is looked up by APIMSGID
    only: the Platform has no lookup by your id and no charge lookup, so --climsgid and
    --charge are refused there (exit 2).
    """
    if (apimsgid is None) == (climsgid is None):
        raise click.UsageError("give either APIMSGID or --climsgid (exactly one)")
    if climsgid is not None:
        settings.refuse_on_platform(
            "asms status --climsgid",
            "the platform looks messages up by APIMSGID only (asms status APIMSGID); a "
            "message's status callback carries its climsgid",
        )
    if charge:
        settings.refuse_on_platform(
            "asms status --charge", "the platform has no per-message charge lookup"
        )
    key = {"apimsgid": apimsgid} if apimsgid is not None else {"climsgid": climsgid}

    async def main() -> tuple[str, MessageStatus | int, float | None]:
        async with settings.client() as client:
            if charge:
                info = await client.charge(**key)
                return info.apimsgid, info.status, info.charge
            if climsgid is not None:
                # Also under the ids of the request's resends (a resend after a lookup that
                # found nothing carries its own id): "unknown" must mean none of them went out.
                looked_up = await client.query_climsgid(climsgid)
                if looked_up is None:
                    raise MessageLookupError(
                        ErrorCode.UNKNOWN_CLIENT_MESSAGE_ID,
                        "Unknown client message ID (nor any resend of it)",
                    )
                return looked_up.apimsgid, looked_up.status, None
            found = await client.query(**key)
            return found.apimsgid, found.status, None

    message_id, state, cost = settings.run(main)
    final = isinstance(state, MessageStatus) and state.is_final
    if as_json:
        record: dict[str, Any] = {
            "apimsgid": message_id,
            "status": int(state),
            "description": _status_description(state),
            "final": final,
        }
        if charge:
            record["charge"] = cost
        _print_json(record)
        return
    if isinstance(state, OneApiStatus):
        # A One API status with no legacy twin: its name; whether it is final is not known.
        shown = f"{int(state):03d} {_status_description(state)} (One API status)"
        line = f"{escape(message_id)}: [bold]{escape(shown)}[/]"
    else:
        shown = status_text(state, unknown="(unknown status)")
        line = f"{escape(message_id)}: [bold]{escape(shown)}[/]"
        line += " (final)" if final else " (not final yet)"
    if cost is not None:
        line += f", charge {cost:g}"
    out_console().print(line)


@click.command()
@json_option
@connection_options
def balance(as_json: bool, settings: Settings) -> None:
    """Show the account's remaining credits (with ASMS_API_KEY: the balance the Platform
    reports, an amount in the account's currency)."""

    async def main() -> Balance:
        async with settings.client() as client:
            return await client.balance()

    found = settings.run(main)
    credits, currency = found.credits, found.currency
    if as_json:
        _print_json({"credits": credits, **({"currency": currency} if currency else {})})
    else:
        unit = f" {currency}" if currency else ""
        out_console().print(f"Credits: [bold]{credits:,.2f}[/]{unit}")


@click.command()
@click.argument("msisdn")
@click.option("--country-code", metavar="CC", help="Country code for a national (0...) number.")
@json_option
@connection_options
def coverage(msisdn: str, country_code: str | None, as_json: bool, settings: Settings) -> None:
    """Check whether the gateway routes MSISDN, and at what charge.

    Exits 1 when the number is not covered. The legacy gateway only (ASMS_API_ID,
    ASMS_USER, ASMS_PASSWORD): the Platform (ASMS_API_KEY) has no coverage lookup.
    """
    check_country_code(country_code)
    settings.refuse_on_platform("asms coverage", "the platform has no route coverage lookup")

    async def main() -> Any:
        extra: dict[str, Any] = {"country_code": country_code} if country_code else {}
        async with settings.client(**extra) as client:
            return await client.route_coverage(msisdn)

    found = settings.run(main)
    if as_json:
        _print_json(
            {
                "msisdn": found.msisdn,
                "supported": found.supported,
                "charge": found.charge,
                "message": found.message,
            }
        )
    else:
        verdict = "[green]routed[/]" if found.supported else "[red]not routed[/]"
        charge = "" if found.charge is None else f", charge {found.charge:g}"
        out_console().print(
            f"{escape(found.msisdn)}: {verdict}{escape(charge)} ({escape(found.message)})"
        )
    raise SystemExit(EXIT_OK if found.supported else EXIT_FAILED)


@click.command()
@click.option(
    "--count", type=click.IntRange(min=1), help="Messages to send [default: the demo's 20,000]."
)
@click.option(
    "--rate",
    type=FiniteFloat(min=0, min_open=True),
    help="Messages per second [default: the demo's 1,000].",
)
def demo(count: int | None, rate: float | None) -> None:
    """Run a bulk campaign through a gateway emulator on this machine, with a progress bar.

    Nothing leaves this machine and no credentials are needed: it speaks the legacy HTTP
    API with the emulator's demo account, and ASMS_API_KEY and the ASMS_API_ID, ASMS_USER,
    ASMS_PASSWORD variables are not read. Exits 0 when every message was accepted exactly
    once.
    """
    try:
        from .demo import run_demo
    except ImportError as exc:  # pragma: no cover - depends on the installed extras
        raise ConfigError(f"the demo is not available: {exc}") from None
    options: dict[str, Any] = {}
    if count is not None:
        options["count"] = count
    if rate is not None:
        options["rate"] = rate
    raise SystemExit(run_demo(**options))


COMMANDS: list[click.Command] = [
    send,
    bulk,
    status,
    balance,
    coverage,
    callbacks,
    demo,
    worker,
    campaign,
]
