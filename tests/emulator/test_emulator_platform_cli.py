"""``asms emulator`` and the Platform: ``--api-key`` (repeatable), the response variant
options, the default key printed at start-up, the callback URLs applied to the keys."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from asms._cli import emulator as emulator_command
from asms._config import DEMO_API_KEY
from asms.testing import GatewayEmulator


def test_build_emulator_keys_variant_and_callback_urls() -> None:
    emu = emulator_command.build_emulator(
        api_keys=("k1", "k2"),
        platform_variant="2017",
        platform_shuffle=True,
        callback_url="http://127.0.0.1:8080/status",
    )
    assert list(emu.integrations) == ["k1", "k2"]
    assert {i.callback_url for i in emu.integrations.values()} == {"http://127.0.0.1:8080/status"}
    assert {i.mo_callback_url for i in emu.integrations.values()} == {
        "http://127.0.0.1:8080/inbound"
    }
    assert (emu.platform.variant, emu.platform.shuffle, emu.platform.errors_as_200) == (
        "2017",
        True,
        False,
    )
    default = emulator_command.build_emulator()
    assert list(default.integrations) == [DEMO_API_KEY]
    with pytest.raises(ValueError, match="--api-key") as caught:
        emulator_command.build_emulator(api_keys=(" s3cret",))
    assert "s3cret" not in str(caught.value)


def test_help_documents_the_platform_options() -> None:
    result = CliRunner().invoke(emulator_command.emulator, ["--help"])
    assert result.exit_code == 0
    for option in (
        "--api-key",
        "--platform-variant",
        "--platform-shuffle",
        "--platform-errors-200",
    ):
        assert option in result.output
    assert "2017" in result.output and "2020" in result.output


@pytest.mark.parametrize(
    ("args", "shown", "hidden"),
    [
        ([], f"API key {DEMO_API_KEY}", None),
        (["--api-key", "s3cret-one", "--api-key", "s3cret-two"], "2 API key(s)", "s3cret"),
    ],
)
def test_start_up_prints_the_default_key(
    monkeypatch: pytest.MonkeyPatch, args: list[str], shown: str, hidden: str | None
) -> None:
    from asms.testing import _serve

    served: list[GatewayEmulator] = []
    monkeypatch.setattr(_serve, "serve", lambda gateway, **_: served.append(gateway))
    # The command tunes the collector for a long-lived server; not for the test process.
    monkeypatch.setattr(emulator_command.gc, "freeze", lambda: None)
    monkeypatch.setattr(emulator_command.gc, "set_threshold", lambda *_: None)
    result = CliRunner().invoke(
        emulator_command.emulator, ["--port", "0", "--platform-variant", "2020", *args]
    )
    assert result.exit_code == 0, result.output
    assert shown in result.output and "2020 responses" in result.output
    assert "api_id 1234 user demo" in result.output
    if hidden is not None:
        assert hidden not in result.output
    assert served and served[0].platform.variant == "2020"
