"""The bridge's one error tree. Foreign errors are translated into these at the boundary.

    BridgeError                    exit 1 unless a subclass says otherwise
    ├── ConfigError                exit 2: a setting is missing or invalid (names the setting)
    ├── UsageError                 exit 2: the command line is wrong
    ├── StorageError               exit 1: the database cannot be reached or written
    │   └── StorageUnavailable     transient: answer 503 so ION retries
    ├── IonError                   exit 1: talking to ION failed
    │   ├── IonAuthError           exit 3: ION refused the credentials
    │   ├── IonUnavailable         transient: connection errors, 5xx, 429, ION's 30 s 502
    │   └── IonRejected            ION answered with GraphQL `errors` or another 4xx
    └── VioletError                talking to Violet failed

An expected error reaches the user as one line and an exit code, never a traceback.
"""

from __future__ import annotations


class BridgeError(Exception):
    """Something the bridge expected could go wrong, went wrong."""

    exit_code = 1


class ConfigError(BridgeError):
    """A setting is missing or invalid; the message names the setting."""

    exit_code = 2

    def __init__(self, setting: str, problem: str) -> None:
        self.setting = setting
        self.problem = problem
        super().__init__(f"{setting}: {problem}")


class UsageError(BridgeError):
    """The command line asks for something that cannot be done."""

    exit_code = 2


class StorageError(BridgeError):
    """The database cannot be reached, created or written."""


class StorageUnavailable(StorageError):
    """The database is briefly unreachable; the caller should retry (HTTP 503 to ION)."""


class IonError(BridgeError):
    """Talking to ION failed."""


class IonAuthError(IonError):
    """ION refused the API key (client id / secret)."""

    exit_code = 3


class IonUnavailable(IonError):
    """ION could not be reached or answered 5xx/429 after the retries; transient."""


class IonRejected(IonError):
    """ION answered, but refused the request (GraphQL `errors` or a 4xx other than 401/429)."""


class VioletError(BridgeError):
    """Delivering to Violet failed."""
