"""The emulator's demo account as a form sends it, and what the emulator committed."""

from __future__ import annotations

from collections import Counter

from asms.testing import GatewayEmulator

CREDS = {"api_id": "1234", "user": "demo", "password": "demo"}
"""The form fields that authenticate as the emulator's default account (1234 / demo / demo)."""


def committed(emulator: GatewayEmulator) -> Counter[str]:
    """Number -> times the gateway accepted a message to it."""
    return Counter(m.to for m in emulator.recorder.messages)
