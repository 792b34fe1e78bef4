"""The worker's settings in one frozen value, checked once when `serve` starts."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.delivery.schedule import RetryPolicy
from bridge.errors import ConfigError
from bridge.settings import Settings, env_name


@dataclass(frozen=True, kw_only=True)
class WorkerConfig:
    url: str
    timeout_seconds: float
    concurrency: int
    lease_seconds: float
    poll_seconds: float
    shutdown_grace_seconds: float
    policy: RetryPolicy
    breaker_failure_ratio: float
    breaker_min_requests: int
    breaker_open_seconds: float
    breaker_window_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> WorkerConfig:
        """The worker's view of `settings`; ConfigError on values that cannot work together."""
        url = settings.require("violet_webhook_url")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(env_name("violet_webhook_url"), "must be an http(s) URL")
        if settings.delivery_lease_seconds <= settings.delivery_timeout_seconds:
            # A lease shorter than a request would let a second worker send the same delivery
            # while the first is still waiting for Violet's answer.
            raise ConfigError(
                env_name("delivery_lease_seconds"),
                "must be longer than BRIDGE_DELIVERY_TIMEOUT_SECONDS",
            )
        _positive(settings, "delivery_concurrency", "delivery_poll_seconds")
        _positive(settings, "delivery_timeout_seconds", "breaker_min_requests")
        if not 0 < settings.breaker_failure_ratio <= 1:
            raise ConfigError(env_name("breaker_failure_ratio"), "must be in (0, 1]")
        if not 0 <= settings.delivery_jitter < 1:
            raise ConfigError(env_name("delivery_jitter"), "must be in [0, 1)")
        if any(delay < 0 for delay in settings.delivery_retry_schedule):
            raise ConfigError(env_name("delivery_retry_schedule"), "delays must be >= 0")
        return cls(
            url=url,
            timeout_seconds=settings.delivery_timeout_seconds,
            concurrency=settings.delivery_concurrency,
            lease_seconds=settings.delivery_lease_seconds,
            poll_seconds=settings.delivery_poll_seconds,
            shutdown_grace_seconds=settings.shutdown_grace_seconds,
            policy=RetryPolicy(
                schedule=tuple(settings.delivery_retry_schedule),
                jitter=settings.delivery_jitter,
                retry_after_max=settings.delivery_retry_after_max_seconds,
                min_backoff=settings.delivery_min_backoff_seconds,
            ),
            breaker_failure_ratio=settings.breaker_failure_ratio,
            breaker_min_requests=settings.breaker_min_requests,
            breaker_open_seconds=settings.breaker_open_seconds,
            breaker_window_seconds=settings.breaker_window_seconds,
        )


def _positive(settings: Settings, *names: str) -> None:
    for name in names:
        if getattr(settings, name) <= 0:
            raise ConfigError(env_name(name), "must be greater than 0")
