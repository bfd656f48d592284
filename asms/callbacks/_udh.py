"""Concatenation headers of inbound messages and the buffer that joins their parts."""

from __future__ import annotations

import sys
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from .._config import DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_PENDING_BYTES

__all__ = [
    "Concat",
    "parse_concat",
    "PartBuffer",
]

_IEI_CONCAT_8BIT = 0x00  # 050003 RR TT PP
_IEI_CONCAT_16BIT = 0x08  # 060804 RRRR TT PP


@dataclass(frozen=True, slots=True)
class Concat:
    """The concatenation element of a UDH: part ``part`` of ``total``, reference ``ref``."""

    ref: int
    total: int
    part: int
    wide: bool  # 16-bit reference


def parse_concat(udh: str) -> Concat | None:
    """The concatenation element of a hex UDH, ``None`` when it has none.

    Raises ValueError for a UDH that is not hex, is truncated, or numbers its parts
    impossibly (part 0, part > total).
    """
    if not udh:
        return None
    try:
        data = bytes.fromhex(udh)
    except ValueError:
        raise ValueError("udh is not hexadecimal") from None
    if not data or data[0] + 1 > len(data):
        raise ValueError("udh length byte does not match its content")
    end = data[0] + 1
    pos = 1
    found: Concat | None = None
    while pos < end:
        if pos + 2 > end:
            raise ValueError("udh information element is truncated")
        iei, length = data[pos], data[pos + 1]
        value = data[pos + 2 : pos + 2 + length]
        if len(value) != length or pos + 2 + length > end:
            raise ValueError("udh information element is truncated")
        if iei == _IEI_CONCAT_8BIT and length == 3:
            found = Concat(ref=value[0], total=value[1], part=value[2], wide=False)
        elif iei == _IEI_CONCAT_16BIT and length == 4:
            ref = int.from_bytes(value[:2], "big")
            found = Concat(ref=ref, total=value[2], part=value[3], wide=True)
        pos += 2 + length
    if found is not None and not 1 <= found.part <= found.total:
        raise ValueError(f"udh names part {found.part} of {found.total}")
    return found


@dataclass(slots=True)
class Part:
    """One stored part: its decoded text, plus the raw UCS-2 bytes when it had them.

    The raw bytes matter because a surrogate pair may be split across two parts; joining
    bytes before decoding keeps it whole.
    """

    momsgid: str
    udh: str
    text: str
    ucs2: bytes | None
    payload: object  # the caller's per-part data (first part's metadata is reused)


@dataclass(slots=True)
class Reassembly:
    """The parts received so far of one multi-part message."""

    total: int
    created: float
    parts: dict[int, Part] = field(default_factory=dict)
    size: int = 0  # bytes held, as counted by part_size()

    def missing(self) -> tuple[int, ...]:
        return tuple(n for n in range(1, self.total + 1) if n not in self.parts)

    def joined_text(self) -> str:
        ordered = [self.parts[n] for n in sorted(self.parts)]
        raw = [p.ucs2 for p in ordered]
        if all(r is not None for r in raw):
            data = b"".join(r for r in raw if r is not None)
            return data.decode("utf-16-be", "surrogatepass")
        return "".join(p.text for p in ordered)


ReassemblyKey = tuple[str, str, bool, int, int]  # (from, to, wide, ref, total)

# What a stored part costs beyond its text and raw bytes: the Part, its payload's other
# fields and the dict slots, rounded up so that many tiny parts are not undercounted.
_PART_OVERHEAD = 512


def part_size(part: Part) -> int:
    """Bytes a stored part keeps alive (its text, raw UCS-2 bytes and fixed overhead)."""
    raw = len(part.ucs2) if part.ucs2 is not None else 0
    return sys.getsizeof(part.text) + raw + len(part.udh) + len(part.momsgid) + _PART_OVERHEAD


class PartBuffer:
    """Parts of incomplete multi-part messages, bounded in bytes, in count and in age.

    Messages older than ``expiry`` seconds are handed out by :meth:`take_expired` so the
    caller can deliver what arrived. Beyond ``max_bytes`` in all or ``max_messages``
    messages, the oldest are dropped; a part that would take its own message beyond
    ``max_message_bytes`` drops that message. Dropped messages are counted in ``dropped``.
    """

    def __init__(
        self,
        *,
        max_messages: int,
        expiry: float,
        clock: Callable[[], float],
        max_bytes: int = DEFAULT_MAX_PENDING_BYTES,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
    ) -> None:
        self._messages: OrderedDict[ReassemblyKey, Reassembly] = OrderedDict()
        self._max_messages = max_messages
        self._max_bytes = max_bytes
        self._max_message_bytes = max_message_bytes
        self._expiry = expiry
        self._clock = clock
        self.bytes = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._messages)

    def get(self, key: ReassemblyKey) -> Reassembly | None:
        return self._messages.get(key)

    def store(self, key: ReassemblyKey, number: int, part: Part, total: int) -> bool:
        """Keep ``part``; False when it was dropped (with its message) for being too large."""
        cost = part_size(part)
        partial = self._messages.get(key)
        if partial is not None and partial.size + cost > self._max_message_bytes:
            self._drop(key)
            return False
        if cost > self._max_message_bytes or cost > self._max_bytes:
            self.dropped += 1
            return False
        if partial is None:
            partial = Reassembly(total=total, created=self._clock())
            self._messages[key] = partial
        partial.parts[number] = part
        partial.size += cost
        self.bytes += cost
        while self.bytes > self._max_bytes or len(self._messages) > self._max_messages:
            self._drop(next(iter(self._messages)))
        return key in self._messages

    def _drop(self, key: ReassemblyKey) -> None:
        partial = self._messages.pop(key)
        self.bytes -= partial.size
        self.dropped += 1

    def discard(self, key: ReassemblyKey) -> None:
        partial = self._messages.pop(key, None)
        if partial is not None:
            self.bytes -= partial.size

    def take_expired(self) -> list[tuple[ReassemblyKey, Reassembly]]:
        """Remove and return every expired message, oldest first."""
        taken: list[tuple[ReassemblyKey, Reassembly]] = []
        limit = self._clock() - self._expiry
        while self._messages:
            key, partial = next(iter(self._messages.items()))
            if partial.created > limit:
                break
            self.discard(key)
            taken.append((key, partial))
        return taken

    def give_back(self, items: list[tuple[ReassemblyKey, Reassembly]]) -> None:
        """Return messages that could not be delivered; they are offered again next time."""
        rest = list(self._messages.items())
        self._messages.clear()
        for key, partial in [*items, *rest]:
            self._messages[key] = partial
        self.bytes += sum(partial.size for _, partial in items)
