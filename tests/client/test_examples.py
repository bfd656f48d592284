"""Every example in examples/ runs against the emulator (over a socket, on 127.0.0.1)."""

from __future__ import annotations

import functools
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import anyio
import pytest
from helpers import ROOT
from helpers.net import free_port

from asms.testing import GatewayEmulator, Lifecycle, running_emulator

EXAMPLES = ROOT / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"asms_example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def emulator() -> GatewayEmulator:
    # The examples use the emulator's demo account (1234 / demo / demo) by default. The
    # lifecycle is short (in binary fractions: exact float sums) so statuses turn final fast.
    return GatewayEmulator(lifecycle=Lifecycle(queued=0.0625, delivery=0.125))


@pytest.fixture
def base_url(emulator: GatewayEmulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("ASMS_API_ID", "ASMS_USER", "ASMS_PASSWORD", "ASMS_BASE_URL", "ASMS_WIRE"):
        monkeypatch.delenv(name, raising=False)
    with running_emulator(emulator) as url:
        yield url


def test_fastapi_service_sends_and_receives_callbacks(
    base_url: str, emulator: GatewayEmulator
) -> None:
    example = load("fastapi_service")
    port = free_port()
    emulator.update_account(1234, callback_url=f"http://127.0.0.1:{port}/callbacks/status")
    outcome = anyio.run(functools.partial(example.main, base_url, port=port, wait=20.0))
    apimsgid = outcome["sent"]["apimsgid"]
    assert outcome["sent"]["error"] is None
    assert outcome["status"] == {"status": 4, "final": True, "charge": 1.0}
    (message,) = emulator.recorder.messages
    assert (message.apimsgid, message.callback) == (apimsgid, 3)


def test_fastapi_service_refuses_bad_input(base_url: str) -> None:
    import httpx

    example = load("fastapi_service")

    async def scenario() -> None:
        app = example.create_app(base_url)
        async with (
            example.serving(app, free_port()) as service,
            httpx.AsyncClient(base_url=service) as http,
        ):
            missing = await http.post("/send", json={"text": "no recipients"})
            assert missing.status_code == 422
            bad = await http.post("/send", json={"to": ["12"], "text": "x"})
            assert bad.status_code == 422
            assert "to" in bad.json()["error"]
            unknown = await http.get("/status/" + "0" * 32)
            assert unknown.json() == {"status": None}

    anyio.run(scenario)


def test_bulk_journal_resumes(base_url: str, emulator: GatewayEmulator, tmp_path: Path) -> None:
    example = load("bulk_journal")
    run = functools.partial(example.main, base_url, journal=str(tmp_path / "c.db"), count=300)
    first = anyio.run(run)
    assert (first.total, first.accepted, first.resumed) == (300, 300, 0)
    commits = emulator.statistics().commits
    assert emulator.statistics().messages == 300
    assert commits < 300  # the shared texts went grouped
    second = anyio.run(run)
    assert (second.total, second.accepted, second.resumed) == (300, 300, 300)
    assert emulator.statistics().commits == commits  # nothing was sent again


def test_trio_send_runs_on_trio(base_url: str, emulator: GatewayEmulator) -> None:
    example = load("trio_send")
    results = anyio.run(example.main, base_url, backend="trio")
    assert [r.ok for r in results] == [True, True, True]
    assert {m.to for m in emulator.recorder.messages} == {r.to for r in results}


def test_soap_wire(base_url: str, emulator: GatewayEmulator) -> None:
    example = load("soap_wire")
    sent = anyio.run(example.main, base_url)
    assert set(sent) == {"soap", "soap-rpc"}
    for results in sent.values():
        assert [r.ok for r in results] == [True, True]
        assert [r.parts for r in results] == [1, 1]  # GSM over SOAP (UCS-2, 2 parts, on HTTP)
    committed = emulator.recorder.messages
    assert len(committed) == 4
    assert {m.text for m in committed} == {example.TEXT}
    assert {m.from_ for m in committed} == {"SOAPDemo"}


@pytest.mark.parametrize("name", ["bulk_journal", "trio_send", "soap_wire"])
def test_examples_run_standalone(name: str, base_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "ASMS_BASE_URL": base_url}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py")],
        cwd=tmp_path,  # bulk_journal writes campaign.db where it runs
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout


# -- run as scripts: they exit non-zero when they do not get what they waited for ----------

STANDALONE = ["bulk_journal", "trio_send", "soap_wire", "fastapi_service"]


def run_script(name: str, base_url: str, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), *args],
        cwd=cwd,  # bulk_journal writes campaign.db where it runs
        env={**os.environ, "ASMS_BASE_URL": base_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_every_example_is_run_as_a_script() -> None:
    assert sorted(STANDALONE) == sorted(p.stem for p in EXAMPLES.glob("*.py"))


def test_fastapi_service_runs_standalone(
    base_url: str, emulator: GatewayEmulator, tmp_path: Path
) -> None:
    port = free_port()
    emulator.update_account(1234, callback_url=f"http://127.0.0.1:{port}/callbacks/status")
    done = run_script("fastapi_service", base_url, tmp_path, "--port", str(port), "--wait", "20")
    assert done.returncode == 0, done.stderr
    assert "'final': True" in done.stdout


def test_fastapi_service_exits_1_without_callbacks(base_url: str, tmp_path: Path) -> None:
    port = free_port()
    done = run_script("fastapi_service", base_url, tmp_path, "--port", str(port), "--wait", "0.2")
    assert done.returncode == 1, done.stdout
    assert "--callback-url" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("name", ["bulk_journal", "trio_send", "soap_wire"])
def test_examples_exit_non_zero_when_refused(name: str, tmp_path: Path) -> None:
    from asms.testing import Account

    broke = GatewayEmulator(
        accounts=[Account(api_id=1234, user="demo", password="demo", credits=0)]
    )
    with running_emulator(broke) as url:
        done = run_script(name, url, tmp_path)
    assert done.returncode != 0, done.stdout
    assert broke.statistics().messages == 0
