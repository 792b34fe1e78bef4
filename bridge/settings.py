"""Settings, read once into a typed, frozen object: environment > TOML file > defaults.

The TOML file is `config/bridge.toml` unless `BRIDGE_CONFIG` names another. Every key can be
overridden by `BRIDGE_<KEY>`. Unknown keys in the file or unknown `BRIDGE_*` variables are errors:
a typo must not silently fall back to a default. Secrets are `SecretStr`, masked in every repr.
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationError, field_validator

from bridge.errors import ConfigError
from bridge.resources import data_dir

ENV_PREFIX = "BRIDGE_"
#: Variables that share the prefix but are not settings.
_NOT_SETTINGS = {"BRIDGE_CONFIG"}
_NOT_SETTINGS_PREFIXES = ("BRIDGE_TEST_",)

#: ION's environments (ion.md: known, except aus-staging which follows the same pattern: assumed).
ION_ENVIRONMENTS: dict[str, tuple[str, str]] = {
    "production": ("https://api.buildwithion.com", "https://auth.buildwithion.com"),
    "staging": ("https://staging-api.buildwithion.com", "https://staging-auth.buildwithion.com"),
    "gov": (
        "https://api-production-gov.buildwithion.com",
        "https://auth-production-gov.buildwithion.com",
    ),
    "gov-staging": (
        "https://api-staging-gov.buildwithion.com",
        "https://auth-staging-gov.buildwithion.com",
    ),
    "aus": (
        "https://api-production-aus.buildwithion.com",
        "https://auth-production-aus.buildwithion.com",
    ),
    "aus-staging": (
        "https://api-staging-aus.buildwithion.com",
        "https://auth-staging-aus.buildwithion.com",
    ),
}
#: The shortest `retention_days` accepted: a pruned delivery takes its dedupe key with it, so it
#: must outlive the sender's retries. ION's retry horizon is not published (ion.md: assumed);
#: peers retry for ~27 h (Svix) to ~3 days (Standard Webhooks' example).
MIN_RETENTION_DAYS = 3
#: uvicorn's HTTP/1.1 parser for `serve` (and the bench's bare endpoint, to compare like with like).
HttpParser = Literal["httptools", "h11"]
DEFAULT_HTTP_PARSER: HttpParser = "h11"
#: The event loop of every uvicorn server here: `serve`, the sandbox's and the bench's. asyncio,
#: as tested and drilled: uvicorn's "auto" would switch to uvloop wherever it happens to be
#: installed (the test extra has it, for the bench's load generator).
EVENT_LOOP: Final = "asyncio"
TOKEN_PATH = "/realms/api-keys/protocol/openid-connect/token"  # noqa: S105 (a path, not a secret)


class Settings(BaseModel):
    """Every setting of the bridge. Build it with `load_settings()`, never at import time."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    ion_environment: str | None = None
    ion_api_url: str | None = None
    ion_token_url: str | None = None
    ion_client_id: str | None = None
    ion_client_secret: SecretStr | None = None
    ion_auth_header_style: Literal["bearer", "raw"] = "bearer"
    ion_timeout_seconds: float = 30.0
    ion_max_retries: int = 4
    ion_retry_base_seconds: float = 0.5
    ion_page_size: int = 100

    public_url: str | None = None
    allow_insecure_public_url: bool = False
    host: str = "127.0.0.1"
    port: int = 8080
    database_url: str = "sqlite:///var/bridge.db"
    admin_token: SecretStr | None = None

    violet_webhook_url: SecretStr | None = None

    delivery_timeout_seconds: float = 15.0
    delivery_retry_schedule: tuple[float, ...] = (5, 30, 120, 300, 1800, 7200, 18000, 36000)
    delivery_jitter: float = 0.2
    delivery_retry_after_max_seconds: float = 3600
    delivery_lease_seconds: float = 90
    delivery_concurrency: int = 8
    breaker_failure_ratio: float = 0.7
    breaker_min_requests: int = 10
    breaker_open_seconds: float = 30
    breaker_window_seconds: float = 60
    delivery_min_backoff_seconds: float = 60
    delivery_poll_seconds: float = 1.0
    shutdown_grace_seconds: float = 10
    #: Days settled deliveries (with their attempts) and finished runs are kept; 0: forever.
    retention_days: float = 30

    inbox_max_body_bytes: int = 5 * 1024 * 1024
    #: Where the inbox's batches are written: a process of their own, or a thread of `serve`.
    ingest_writer: Literal["process", "thread"] = "process"
    #: h11 (pure Python) or httptools (C, llhttp): the bridge ingests ~1.6 x as much on httptools.
    http_parser: HttpParser = DEFAULT_HTTP_PARSER
    inbox_require: Literal["any", "token", "signature", "both"] = "any"
    inbox_header_name: str = "x-bridge-token"
    secret_rotation_grace_seconds: float = 86400
    secret_key: SecretStr | None = None

    subscribe_resources: tuple[str, ...] = ()
    subscribe_actions: tuple[str, ...] = ("CREATE", "UPDATE")
    receiver_name: str = "ion-violet-bridge"

    reconcile_interval_seconds: float = 60
    reconcile_resources: tuple[str, ...] = ()
    reconcile_overlap_seconds: float = 300
    reconcile_new_line_poll_seconds: float = 10
    reconcile_settle_delays_seconds: tuple[float, ...] = (30, 300)
    reconcile_alert_after_seconds: float = 120
    reconcile_debounce_seconds: float = 0.3

    alert_webhook_url: SecretStr | None = None
    alert_min_interval_seconds: float = 900
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: str = "info"

    @field_validator("ion_environment")
    @classmethod
    def _known_environment(cls, value: str | None) -> str | None:
        if value is not None and value not in ION_ENVIRONMENTS:
            raise ValueError(f"must be one of {', '.join(ION_ENVIRONMENTS)}")
        return value

    @field_validator("retention_days")
    @classmethod
    def _retention_floor(cls, value: float) -> float:
        if value != 0 and not value >= MIN_RETENTION_DAYS:
            raise ValueError(
                f"must be 0 (keep forever) or at least {MIN_RETENTION_DAYS} days: a deleted "
                "delivery's event id could be accepted again if ION retried it later"
            )
        return value

    @field_validator("port")
    @classmethod
    def _port_range(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be a TCP port, 0-65535")
        return value

    # -- derived values ---------------------------------------------------------------------
    @property
    def graphql_url(self) -> str:
        return self.require("ion_api_url").rstrip("/") + "/graphql"

    def require(self, name: str) -> str:
        """The value of a setting a command cannot run without, or ConfigError naming it."""
        value = getattr(self, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if value is None or value == "":
            raise ConfigError(env_name(name), "is required for this command and is not set")
        return str(value)

    def require_public_url(self) -> str:
        """`public_url`, refused when it is not https unless insecure URLs are allowed."""
        url = self.require("public_url").rstrip("/")
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ConfigError(env_name("public_url"), "must be an http(s) URL")
        if scheme != "https" and not self.allow_insecure_public_url:
            raise ConfigError(
                env_name("public_url"),
                "ION delivers only to https; set BRIDGE_ALLOW_INSECURE_PUBLIC_URL=true "
                "for a loopback demo or test",
            )
        return url


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def redact_url(url: str | SecretStr | None) -> str:
    """A capability URL reduced to scheme + host + '…' (the rest is the secret)."""
    if url is None:
        return "(not set)"
    text = url.get_secret_value() if isinstance(url, SecretStr) else url
    parts = urlsplit(text)
    return f"{parts.scheme}://{parts.netloc}/…" if parts.netloc else "…"


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise ConfigError("BRIDGE_CONFIG", f"no such file: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("BRIDGE_CONFIG", f"{path} is not valid TOML: {exc}") from None


def _from_env(environ: Mapping[str, str]) -> dict[str, str]:
    values: dict[str, str] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or key in _NOT_SETTINGS:
            continue
        if key.startswith(_NOT_SETTINGS_PREFIXES):
            continue
        field = key[len(ENV_PREFIX) :].lower()
        if field not in Settings.model_fields:
            raise ConfigError(key, "unknown setting (check the spelling)")
        values[field] = value
    return values


def _coerce_env(field: str, raw: str) -> Any:
    """Environment values are strings; lists are comma-separated or JSON arrays."""
    annotation = str(Settings.model_fields[field].annotation)
    if "tuple" in annotation:
        text = raw.strip()
        if text.startswith("["):
            try:
                return json.loads(text)
            except ValueError:
                raise ConfigError(env_name(field), "is not a valid JSON list") from None
        return [item.strip() for item in text.split(",") if item.strip()]
    if raw == "" and "None" in annotation:
        return None
    return raw


def load_settings(
    environ: Mapping[str, str] | None = None, *, overrides: Mapping[str, Any] | None = None
) -> Settings:
    """Read the settings once: defaults < TOML file < environment < explicit overrides."""
    env = os.environ if environ is None else environ
    path = (
        Path(env["BRIDGE_CONFIG"])
        if env.get("BRIDGE_CONFIG")
        else data_dir("config") / "bridge.toml"
    )
    merged: dict[str, Any] = {}
    for key, value in _read_toml(path).items():
        if key not in Settings.model_fields:
            raise ConfigError(key, f"unknown setting in {path}")
        merged[key] = value
    for field, raw in _from_env(env).items():
        merged[field] = _coerce_env(field, raw)
    merged.update(overrides or {})
    environment = merged.get("ion_environment")
    if environment in ION_ENVIRONMENTS:
        api, auth = ION_ENVIRONMENTS[environment]
        merged.setdefault("ion_api_url", api)
        merged.setdefault("ion_token_url", auth + TOKEN_PATH)
    try:
        return Settings(**merged)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = str(error["loc"][0]) if error["loc"] else "settings"
        # Never echo the offending value: it may be a secret.
        raise ConfigError(env_name(field), str(error["msg"])) from None
