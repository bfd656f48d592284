"""Bulk CSV input and output: rows become messages one at a time, results become rows.

The input is streamed (a campaign file may hold millions of rows): nothing here keeps more
than the current row. A row that cannot become a message is reported as an ``invalid``
result row instead of stopping the run. A file that is not in the expected encoding is
refused as a whole, before anything is sent (:func:`check_encoding`): skipping the rows that
cannot be decoded would lose them without a result.

Results files are opened in spreadsheets, so a cell that a spreadsheet would read as a
formula (``=HYPERLINK(...)``, ``@SUM(...)``) is written with a leading ``'``
(:func:`safe_cell`); plain numbers such as ``+27821234567`` are written as they are.
"""

from __future__ import annotations

import codecs
import csv
import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from .._config import PLATFORM_WIRES
from .._encoding import (
    PartCount,
    count_binary_parts,
    count_parts,
    encode_for_http,
    encode_for_soap,
)
from .._exceptions import ValidationError
from .._models import Message, SendResult
from .._numbers import InvalidNumberError, normalize_msisdn
from ._common import ConfigError

__all__ = [
    "RESULT_COLUMNS",
    "DEFAULT_ENCODING",
    "BadInput",
    "InvalidRow",
    "ResultsWriter",
    "Row",
    "count_rows",
    "estimate_parts",
    "check_csv",
    "open_results",
    "check_encoding",
    "read_rows",
    "resolve_encoding",
    "safe_cell",
]

# utf-8-sig: spreadsheet programs like to start a CSV with a byte order mark.
DEFAULT_ENCODING: Final = "utf-8-sig"
_CHECK_CHUNK: Final = 1 << 20
# OWASP "CSV injection": these first characters make a spreadsheet read a cell as a formula.
_FORMULA_START: Final = ("=", "+", "-", "@", "\t", "\r", "\n")
# ... unless the cell is a plain number (a phone number in international format).
_PLAIN_NUMBER: Final = re.compile(r"[+-]?\d+(?: \d+)*(?:\.\d+)?")

_BOOL_COLUMNS: Final = frozenset({"mo", "deliv_ack", "escalate", "unicode", "binary"})
_INT_COLUMNS: Final = frozenset(
    {"callback", "concat", "deliv_time", "scheduled_time", "queue", "req_feat", "validity"}
)
_FLOAT_COLUMNS: Final = frozenset({"max_credits"})
_STR_COLUMNS: Final = frozenset({"from", "msg_type", "udh", "data"})
OPTION_COLUMNS: Final = _BOOL_COLUMNS | _INT_COLUMNS | _FLOAT_COLUMNS | _STR_COLUMNS
_MESSAGE_COLUMNS: Final = frozenset({"to", "text", "climsgid"})
_ALIASES: Final = {"from_": "from", "msisdn": "to", "message": "text"}
_TRUE: Final = frozenset({"1", "true", "yes", "y", "on"})
_FALSE: Final = frozenset({"0", "false", "no", "n", "off"})

RESULT_COLUMNS: Final = (
    "row",
    "to",
    "climsgid",
    "apimsgid",
    "status",
    "error_code",
    "error_description",
    "parts",
)


class BadInput(Exception):
    """The file as a whole cannot be used (no header, no ``to`` column, unknown columns)."""


def resolve_encoding(name: str) -> str:
    """The codec to read an input file with; ``utf-8`` also skips a byte order mark."""
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise BadInput(f"unknown encoding {name!r}") from None
    return DEFAULT_ENCODING if codec.name == "utf-8" else codec.name


def _shown(encoding: str) -> str:
    return "utf-8" if encoding == DEFAULT_ENCODING else encoding


def check_encoding(path: Path, encoding: str = DEFAULT_ENCODING) -> None:
    """Decode all of ``path`` (streamed, in chunks) and raise :class:`BadInput` at a bad byte.

    Done before a run starts: a decoding error in the middle of a run would end it with the
    rows of the undecodable chunk never read.
    """
    decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    offset = 0  # of the chunk being decoded
    lines = 1
    with path.open("rb") as handle:
        while True:
            chunk = handle.read(_CHECK_CHUNK)
            pending = decoder.getstate()[0]
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                data = pending + chunk
                where = offset - len(pending) + exc.start
                line = lines + data[: exc.start].count(b"\n")
                raise BadInput(
                    f"line {line} (byte offset {where}) is not valid {_shown(encoding)}: "
                    f"byte 0x{data[exc.start]:02X} cannot be decoded; "
                    f"save the file as UTF-8, or pass its encoding ({_hint(data[exc.start])})"
                ) from None
            if not chunk:
                return
            offset += len(chunk)
            lines += chunk.count(b"\n")


def _hint(byte: int) -> str:
    # 0x80-0x9F are control characters in latin-1 but letters and signs (the euro sign,
    # curly quotes) in cp1252, which is what spreadsheet programs on Windows write.
    if 0x80 <= byte <= 0x9F:
        return "most likely --encoding cp1252, what spreadsheet programs on Windows write"
    return "e.g. --encoding latin-1 or --encoding cp1252"


# A line that is itself a data row: a phone-number-like first cell, then the delimiter.
_ROW_LIKE: Final = re.compile(r"\s*\+?\d[\d ()-]{5,}\s*,")


def check_csv(path: Path, encoding: str = DEFAULT_ENCODING) -> int:
    """Parse all of ``path`` strictly and return its data rows; raise :class:`BadInput`.

    Refused, with the line numbers: a malformed quote (``"a"b``, a quote never closed) and
    a quoted cell that spans lines which look like rows of their own (an unbalanced
    quote would otherwise merge the following rows into one message, losing them). A quoted
    text whose extra lines do not start with a number and a comma is a legit multi-line
    text. Run before anything is sent.
    """
    with _open(path, encoding) as handle:
        reader = csv.reader(handle, strict=True)
        total = -1  # the header
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return max(total, 0)
            except csv.Error as exc:
                raise BadInput(_malformed(exc, line, reader.line_num)) from None
            except UnicodeDecodeError as exc:
                raise _decode_error(exc, encoding) from None
            _check_swallowed(cells, line)
            if total < 0 or any(cell.strip() for cell in cells):
                total += 1


def _malformed(exc: csv.Error, start: int, end: int) -> str:
    fix = 'check the quotes: a cell with a " in it must be quoted, and that " doubled'
    if "end of data" in str(exc):
        ends = f"the file ends on line {end}"
        return f"a quote opened on line {start} is never closed ({ends}); {fix}"
    where = f"line {start}" if start == end else f"lines {start}-{end}"
    if "field larger than field limit" in str(exc):
        # Quoted or not: one cell of the file is beyond any text a message could carry.
        return (
            f"{where}: a cell is longer than {csv.field_size_limit():,} characters, far more "
            "than any SMS text; check that line (a quote never closed also runs on)"
        )
    return f"{where}: malformed CSV ({exc}); {fix}"


def _check_swallowed(cells: list[str], line: int) -> None:
    opened = line
    for cell in cells:
        extra = cell.split("\n")[1:]
        if any(_ROW_LIKE.match(text) for text in extra):
            closed = opened + len(extra)
            raise BadInput(
                f"a quoted cell opens on line {opened} and closes on line {closed}, taking in "
                "lines that look like rows of their own; a quote is probably missing "
                'or stray: close it, or double a " inside a quoted cell'
            )
        opened += len(extra)


def safe_cell(value: str) -> str:
    """``value`` as a results cell a spreadsheet shows as text, never runs as a formula."""
    if value.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """A row refused locally: it is reported, never sent."""

    row: int
    to: str
    climsgid: str
    reason: str


@dataclass(frozen=True, slots=True)
class Row:
    """One data row (numbered from 1, the header excluded) and what it became.

    ``line`` is the file's line (1 = the header) where the row starts.
    """

    number: int
    message: Message | None = None
    invalid: InvalidRow | None = field(default=None)
    line: int = 0


def _convert(column: str, value: str) -> Any:
    if column in _BOOL_COLUMNS:
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise ValidationError(column, "must be 0/1 (or true/false)", value)
    if column in _INT_COLUMNS:
        try:
            return int(value)
        except ValueError:
            raise ValidationError(column, "must be an integer", value) from None
    if column in _FLOAT_COLUMNS:
        try:
            number = float(value)
        except ValueError:
            raise ValidationError(column, "must be a number", value) from None
        if not math.isfinite(number):
            raise ValidationError(column, "must be a finite number", value)
        return number
    return value


def _header(names: list[str]) -> list[str]:
    columns = [_ALIASES.get(name.strip().lower(), name.strip().lower()) for name in names]
    if "to" not in columns:
        raise BadInput("the CSV header has no 'to' column")
    if "text" not in columns and "data" not in columns:
        raise BadInput("the CSV header has no 'text' column")
    unknown = [c for c in columns if c not in OPTION_COLUMNS and c not in _MESSAGE_COLUMNS]
    if unknown:
        raise BadInput(
            "unknown CSV column(s): "
            + ", ".join(repr(c) for c in unknown)
            + "; allowed besides to,text: climsgid, "
            + ", ".join(sorted(OPTION_COLUMNS))
        )
    duplicated = sorted({c for c in columns if columns.count(c) > 1})
    if duplicated:
        raise BadInput("duplicate CSV column(s): " + ", ".join(duplicated))
    return columns


def _open(path: Path, encoding: str = DEFAULT_ENCODING) -> IO[str]:
    return path.open("r", encoding=encoding, newline="")


def _decode_error(exc: UnicodeDecodeError, encoding: str) -> BadInput:
    return BadInput(
        f"not valid {_shown(encoding)} ({exc.reason}); save the file as UTF-8, or pass its "
        f"encoding ({_hint(exc.object[exc.start])})"
    )


def read_rows(
    path: Path,
    *,
    country_code: str | None = None,
    defaults: dict[str, Any] | None = None,
    encoding: str = DEFAULT_ENCODING,
) -> Iterator[Row]:
    """Stream ``path`` as :class:`Row` objects; ``defaults`` are options for rows without them.

    Raises :class:`BadInput` (before the first row) when the header is unusable, and when
    the file cannot be decoded (run :func:`check_encoding` first to refuse such a file
    before any row is used).
    """
    base = dict(defaults or {})
    with _open(path, encoding) as handle:
        reader = csv.reader(handle, strict=True)
        try:
            names = next(reader)
        except StopIteration:
            raise BadInput(
                "the CSV file is empty; it needs a header line with the columns to,text"
            ) from None
        except csv.Error as exc:
            raise BadInput(f"cannot read the CSV header: {exc}") from None
        except UnicodeDecodeError as exc:
            raise _decode_error(exc, encoding) from None
        columns = _header(names)
        width = len(columns)
        number = 0
        while True:
            line = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                bad = InvalidRow(number, "", "", f"unreadable CSV: {exc}")
                yield Row(number, invalid=bad, line=line)
                continue
            except UnicodeDecodeError as exc:
                raise _decode_error(exc, encoding) from None
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            number += 1
            yield _row(number, line, columns, width, cells, country_code, base)


def _row(
    number: int,
    line: int,
    columns: list[str],
    width: int,
    cells: list[str],
    country_code: str | None,
    base: dict[str, Any],
) -> Row:
    values = dict(zip(columns, cells, strict=False))
    raw_to = values.get("to", "").strip()
    climsgid = values.get("climsgid", "").strip()
    if len(cells) != width:
        reason = f"expected {width} cells, found {len(cells)}"
        return Row(number, invalid=InvalidRow(number, raw_to, climsgid, reason), line=line)
    options = dict(base)
    try:
        for column, cell in values.items():
            if column in OPTION_COLUMNS and cell.strip() != "":
                options[column] = _convert(column, cell.strip())
        to = normalize_msisdn(raw_to, country_code)
        message = Message.create(
            to, values.get("text", ""), climsgid=climsgid or None, ref=number, **options
        )
    except (ValidationError, InvalidNumberError) as exc:
        # The library names its argument (country_code=); here it is the --country-code flag.
        reason = str(exc).replace("pass country_code=", "pass --country-code")
        return Row(number, invalid=InvalidRow(number, raw_to, climsgid, reason), line=line)
    return Row(number, message=message, line=line)


def count_rows(path: Path, encoding: str = DEFAULT_ENCODING) -> int:
    """Data rows in ``path`` (a cheap first pass, so a progress bar can show a total)."""
    with _open(path, encoding) as handle:
        reader = csv.reader(handle)
        total = -1  # the header
        try:
            for cells in reader:
                if total < 0 or any(cell.strip() for cell in cells):
                    total += 1
        except (csv.Error, UnicodeDecodeError):
            pass
        return max(total, 0)


def estimate_parts(message: Message, wire: str) -> PartCount:
    """The parts ``message`` costs on ``wire`` (what the gateway charges for)."""
    options = message.options
    if options.data is not None:
        udh = bytes.fromhex(options.udh) if options.udh else b""
        return count_binary_parts(bytes.fromhex(options.data), udh)
    text = message.text
    if wire == "http":
        return encode_for_http(text).parts
    if wire in PLATFORM_WIRES:
        return count_parts(text)  # UTF-8 in JSON: the platform picks GSM-7 or UCS-2
    return encode_for_soap(text).parts


class ResultsWriter:
    """Writes result rows as they come (completion order; the ``row`` column says which).

    Text cells go through :func:`safe_cell`: only the file is escaped, never what is sent.
    """

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self._writer = csv.writer(handle, lineterminator="\n")
        self.written = 0
        self.failed = 0
        #: The first failure to write (a full disk, a file that takes no writes): from then
        #: on nothing more is written, and the caller stops sending.
        self.error: OSError | None = None
        self._write(RESULT_COLUMNS)
        self.flush()  # a file that cannot be written is found before anything is sent

    def _write(self, row: Sequence[object]) -> None:
        if self.error is not None:
            return
        try:
            self._writer.writerow(row)
        except OSError as exc:
            self.error = exc

    def flush(self) -> None:
        """Write out what is buffered; a failure is kept in :attr:`error`."""
        if self.error is not None:
            return
        try:
            self._handle.flush()
        except OSError as exc:
            self.error = exc

    def result(self, row: int, result: SendResult) -> str:
        """Write ``result`` as row ``row``; returns its status."""
        # A bulk result says what became of the message (accepted, rejected, unknown,
        # not_sent); a plain SendResult is accepted or rejected.
        state = getattr(result, "state", None)
        status = str(state) if state is not None else ("accepted" if result.ok else "rejected")
        if not result.ok:
            self.failed += 1
        # Negative codes are asms's own (outcome unknown, not sent): the status says it.
        code = result.error_code
        shown = "" if code is None or int(code) < 0 else f"{int(code):03d}"
        self._write(
            (
                row,
                safe_cell(result.to),
                safe_cell(result.climsgid or ""),
                safe_cell(result.apimsgid or ""),
                status,
                shown,
                safe_cell(result.error_description or ""),
                result.parts,
            )
        )
        self.written += 1
        return status

    def close(self) -> None:
        """Write out the rest and close the file; a failure is kept in :attr:`error`."""
        self.flush()
        try:
            self._handle.close()
        except OSError as exc:
            self.error = self.error or exc

    def problem(self, target: Path) -> str:
        """What went wrong writing to ``target`` (when :attr:`error` is set)."""
        error = self.error
        why = (error.strerror or str(error)) if error is not None else "unknown error"
        return f"cannot write {target}: {why}"

    def invalid(self, bad: InvalidRow) -> str:
        self.failed += 1
        cells = (safe_cell(bad.to), safe_cell(bad.climsgid), safe_cell(bad.reason))
        self._write((bad.row, cells[0], cells[1], "", "invalid", "", cells[2], 0))
        self.written += 1
        return "invalid"


def open_results(target: Path) -> ResultsWriter:
    """A :class:`ResultsWriter` on ``target``, refused (``ConfigError``) when the file cannot
    be opened or written: found before anything is sent."""
    try:
        handle = target.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise ConfigError(f"cannot write {target}: {exc.strerror}") from None
    writer = ResultsWriter(handle)
    if writer.error is not None:
        writer.close()
        raise ConfigError(writer.problem(target))
    return writer
