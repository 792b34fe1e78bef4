"""Settings: file < environment precedence, ION environments, clear errors, masked secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bridge.errors import ConfigError
from bridge.settings import ION_ENVIRONMENTS, load_settings, redact_url


def test_defaults_come_from_the_packaged_toml() -> None:
    """With no environment at all, the embedded defaults apply."""
    settings = load_settings({})
    assert settings.database_url == "sqlite:///var/bridge.db"
    assert settings.reconcile_interval_seconds == 60
    assert (settings.host, settings.port) == ("127.0.0.1", 8080)
    assert "PURCHASE_ORDER_LINES" in settings.subscribe_resources


@pytest.mark.parametrize("environment", sorted(ION_ENVIRONMENTS))
def test_ion_environment_sets_both_urls(environment: str) -> None:
    """Each of ION's six environments fills in the API and token URLs."""
    settings = load_settings({"BRIDGE_ION_ENVIRONMENT": environment})
    api, auth = ION_ENVIRONMENTS[environment]
    assert settings.ion_api_url == api
    assert settings.graphql_url == api + "/graphql"
    assert settings.ion_token_url == auth + "/realms/api-keys/protocol/openid-connect/token"


def test_explicit_urls_win_over_the_environment_table() -> None:
    """An explicit BRIDGE_ION_API_URL is kept when an environment is also named."""
    settings = load_settings(
        {"BRIDGE_ION_ENVIRONMENT": "staging", "BRIDGE_ION_API_URL": "http://127.0.0.1:9"}
    )
    assert settings.ion_api_url == "http://127.0.0.1:9"


def test_environment_overrides_file(tmp_path: Path) -> None:
    """BRIDGE_CONFIG names the file; variables override its keys; lists parse from commas."""
    config = tmp_path / "bridge.toml"
    config.write_text('port = 9000\nhost = "localhost"\nsubscribe_actions = ["CREATE"]\n')
    settings = load_settings(
        {
            "BRIDGE_CONFIG": str(config),
            "BRIDGE_PORT": "9100",
            "BRIDGE_SUBSCRIBE_RESOURCES": "PARTS, LOCATIONS",
        }
    )
    assert settings.port == 9100
    assert settings.host == "localhost"
    assert settings.subscribe_actions == ("CREATE",)
    assert settings.subscribe_resources == ("PARTS", "LOCATIONS")


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"BRIDGE_PORTT": "1"}, "BRIDGE_PORTT"),
        ({"BRIDGE_PORT": "eighty"}, "BRIDGE_PORT"),
        ({"BRIDGE_PORT": "70000"}, "BRIDGE_PORT"),
        ({"BRIDGE_ION_ENVIRONMENT": "mars"}, "BRIDGE_ION_ENVIRONMENT"),
        ({"BRIDGE_CONFIG": "/nonexistent/bridge.toml"}, "BRIDGE_CONFIG"),
    ],
)
def test_bad_settings_name_the_setting(environ: dict[str, str], named: str) -> None:
    """Every invalid setting is a ConfigError (exit code 2) whose message names it."""
    with pytest.raises(ConfigError) as caught:
        load_settings(environ)
    assert str(caught.value).startswith(named)
    assert caught.value.exit_code == 2


def test_unknown_key_in_file_is_an_error(tmp_path: Path) -> None:
    """A misspelt key in the TOML file is refused, not silently ignored."""
    config = tmp_path / "bridge.toml"
    config.write_text("reconcile_intervall_seconds = 5\n")
    with pytest.raises(ConfigError, match="reconcile_intervall_seconds"):
        load_settings({"BRIDGE_CONFIG": str(config)})


def test_secrets_are_masked_and_required_settings_named() -> None:
    """Secrets never show in a repr; a missing required setting names its variable."""
    settings = load_settings(
        {
            "BRIDGE_ION_CLIENT_SECRET": "very-secret-value",
            "BRIDGE_VIOLET_WEBHOOK_URL": "https://hooks.violet.example/ion/abc123secret",
            "BRIDGE_ADMIN_TOKEN": "admin-token-value",
        }
    )
    text = repr(settings) + str(settings)
    for secret in ("very-secret-value", "abc123secret", "admin-token-value"):
        assert secret not in text
    assert redact_url(settings.violet_webhook_url) == "https://hooks.violet.example/…"
    with pytest.raises(ConfigError, match="BRIDGE_PUBLIC_URL"):
        settings.require("public_url")


def test_public_url_must_be_https_unless_allowed() -> None:
    """ION only delivers to https: http is refused unless explicitly allowed."""
    with pytest.raises(ConfigError, match="BRIDGE_PUBLIC_URL"):
        load_settings({"BRIDGE_PUBLIC_URL": "http://127.0.0.1:8080"}).require_public_url()
    allowed = load_settings(
        {"BRIDGE_PUBLIC_URL": "http://127.0.0.1:8080/", "BRIDGE_ALLOW_INSECURE_PUBLIC_URL": "true"}
    )
    assert allowed.require_public_url() == "http://127.0.0.1:8080"
