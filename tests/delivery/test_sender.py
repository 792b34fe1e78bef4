"""The Violet sender's own rules: which proxy it uses, and that errors never carry the URL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.delivery.claims import Outgoing
from bridge.delivery.config import WorkerConfig
from bridge.delivery.sender import VioletSender, env_proxy
from bridge.sandbox.serving import free_port
from tests.harness import settings_for

SECRET_URL = "http://127.0.0.1:{port}/hooks/capability-token-1234567890"


@pytest.mark.parametrize(
    ("environ", "url", "expected"),
    [
        ({}, "https://violet.example/hooks/x", None),
        (
            {"https_proxy": "http://proxy:3128"},
            "https://violet.example/hooks/x",
            "http://proxy:3128",
        ),
        ({"http_proxy": "http://proxy:3128"}, "https://violet.example/hooks/x", None),
        (
            {"https_proxy": "http://proxy:3128", "no_proxy": "violet.example"},
            "https://violet.example/hooks/x",
            None,
        ),
    ],
)
def test_the_proxy_comes_from_the_environment_once(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], url: str, expected: str | None
) -> None:
    """HTTPS_PROXY for an https URL unless NO_PROXY names its host; nothing set, no proxy."""
    for name in ("http_proxy", "https_proxy", "no_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    assert env_proxy(url) == expected


def _delivery() -> Outgoing:
    now = datetime(2026, 12, 2, tzinfo=UTC)
    return Outgoing(
        id=1,
        webhook_id="msg_1",
        origin="ion",
        resend_of=None,
        event_id=1,
        resource="PARTS",
        action="UPDATE",
        entity_id="1",
        entity_key="PARTS:1",
        content_type="application/json",
        body=b"{}",
        status="SENDING",
        attempts=0,
        received_at=now,
        next_attempt_at=now,
        completed_at=None,
        last_status_code=None,
    )


def test_a_refused_connection_is_an_answer_without_the_url(tmp_path: Path) -> None:
    """Nothing listening: a result (no exception) whose error names the failure, not the URL."""
    url = SECRET_URL.format(port=free_port())
    config = WorkerConfig.from_settings(settings_for(f"sqlite:///{tmp_path}/b.db", url))

    async def go() -> str | None:
        sender = VioletSender(config)
        await sender.start()
        try:
            response = await sender.send(_delivery(), now=datetime.now(UTC))
        finally:
            await sender.close()
        assert response.status_code is None
        return response.error

    error = asyncio.run(go())
    assert error is not None
    assert "Connect" in error
    assert "capability-token" not in error
