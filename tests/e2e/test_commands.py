"""`bridge serve` and `bridge events` refusing bad configuration and usage with one line and
exit code 2; readiness failing while draining."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.e2e.serve import ServeProcess
from tests.harness import (
    HEADER,
    TOKEN,
    cli,
    event_body,
    running_bridge,
    settings_for,
    sign,
    store_credential,
    violet_standin,
    wait_until,
)


def test_serve_without_violet_url_names_the_setting(tmp_path: Path) -> None:
    """No BRIDGE_VIOLET_WEBHOOK_URL: exit 2 naming it, no traceback."""
    result = cli("serve", "--port", "0", database_url=f"sqlite:///{tmp_path}/b.db")
    assert result.returncode == 2
    assert "BRIDGE_VIOLET_WEBHOOK_URL" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("setting", "env"),
    [
        # A lease that could expire mid-request would allow double sends: refused at start.
        (
            "BRIDGE_DELIVERY_LEASE_SECONDS",
            {"BRIDGE_DELIVERY_LEASE_SECONDS": "5", "BRIDGE_DELIVERY_TIMEOUT_SECONDS": "15"},
        ),
        ("BRIDGE_HTTP_PARSER", {"BRIDGE_HTTP_PARSER": "fast"}),
    ],
    ids=["lease-shorter-than-a-request", "unknown-http-parser"],
)
def test_serve_refuses_a_bad_setting_naming_it(
    tmp_path: Path, setting: str, env: dict[str, str]
) -> None:
    """Exit 2, the setting named, no traceback."""
    result = cli(
        "serve",
        database_url=f"sqlite:///{tmp_path}/b.db",
        BRIDGE_VIOLET_WEBHOOK_URL="http://127.0.0.1:9/hooks/x",
        **env,
    )
    assert result.returncode == 2
    assert setting in result.stderr
    assert "Traceback" not in result.stderr


def test_events_usage_errors(tmp_path: Path) -> None:
    """Unknown ids, and resend with neither ids nor --status, are usage errors."""
    url = f"sqlite:///{tmp_path}/b.db"
    assert cli("db", "upgrade", database_url=url).returncode == 0
    missing = cli("events", "show", "12345", database_url=url)
    assert (missing.returncode, missing.stderr.strip()) == (2, "bridge: error: no delivery 12345")
    assert cli("events", "resend", database_url=url).returncode == 2
    listed = cli("events", "list", "--json", database_url=url)
    assert (listed.returncode, listed.stdout.strip()) == (0, "[]")


def test_events_on_a_database_without_schema_says_what_to_do(tmp_path: Path) -> None:
    """Before `bridge db upgrade` the CLI explains instead of failing on a missing table."""
    result = cli("events", "list", database_url=f"sqlite:///{tmp_path}/new.db")
    assert result.returncode == 1
    assert "bridge db upgrade" in result.stderr


def test_readiness_fails_while_draining(tmp_path: Path) -> None:
    """Once a shutdown is asked for, /readyz answers 503 so traffic moves elsewhere."""
    with (
        violet_standin() as violet,
        running_bridge(settings_for(f"sqlite:///{tmp_path}/b.db", violet.hook_url)) as running,
    ):
        assert running.http.get("/readyz").status_code == 200
        running.bridge.draining = True
        answer = running.http.get("/readyz")
        assert (answer.status_code, answer.json()) == (503, {"status": "draining"})
        assert running.http.get("/healthz").status_code == 200


def test_serve_freezes_its_startup_heap(tmp_path: Path) -> None:
    """`bridge serve` takes its start-up objects out of the collector's sight once every part
    has started (full collections walking them stalled the event loop ~36 ms under load)."""
    with ServeProcess(
        database_url=f"sqlite:///{tmp_path}/b.db",
        violet_url="http://127.0.0.1:9/violet",
        log_dir=tmp_path,
        name="serve",
        BRIDGE_LOG_LEVEL="info",
    ) as serve:
        wait_until(
            lambda: "serve.heap_frozen" in serve.log_path.read_text(),
            timeout=30,
            what="the heap_frozen line",
        )
    lines = [json.loads(line) for line in serve.log_path.read_text().splitlines() if "{" in line]
    frozen = [line for line in lines if line.get("event") == "serve.heap_frozen"]
    assert len(frozen) == 1
    assert frozen[0]["objects"] > 10_000


@pytest.mark.parametrize("parser", ["h11", "httptools"])
def test_serve_runs_on_the_http_parser_chosen(tmp_path: Path, parser: str) -> None:
    """BRIDGE_HTTP_PARSER picks uvicorn's parser (its module is loaded in `serve`, the other's
    is not), and a signed delivery is stored and forwarded on either."""
    url = f"sqlite:///{tmp_path}/bridge.db"
    with violet_standin() as violet:
        store_credential(settings_for(url, violet.hook_url))
        with ServeProcess(
            database_url=url,
            violet_url=violet.hook_url,
            log_dir=tmp_path,
            name=parser,
            BRIDGE_HTTP_PARSER=parser,
        ) as serve:
            assert serve.process is not None
            maps = Path(f"/proc/{serve.process.pid}/maps").read_text()
            assert ("httptools" in maps) == (parser == "httptools")
            body = event_body(7001, entity=3)
            answer = httpx.post(
                f"{serve.url}/webhooks/ion",
                content=body,
                headers={"x-ion-signature": sign(body), HEADER: TOKEN},
            )
            assert answer.status_code == 200, answer.text
            assert answer.json()["status"] == "accepted"
            wait_until(lambda: 7001 in violet.event_ids(), timeout=30, what="the event at Violet")
