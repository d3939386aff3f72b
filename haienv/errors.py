"""The exceptions haienv raises: one base class, so callers can catch every refusal at once.

Every message is meant to be shown to a user as is (one line, says what to do).
"""

from __future__ import annotations


class HaiEnvError(Exception):
    """Base class of every error haienv reports to a user."""


class InvalidInput(HaiEnvError, ValueError):
    """A name, label, file or option was refused; the message states the rule."""


class EnvNotFound(HaiEnvError, LookupError):
    """No environment of that name (in the user's folder or among the shared bases)."""


class EnvExists(HaiEnvError):
    """The name is taken (a ready env, or a failed one that still occupies it)."""


class EnvBusy(HaiEnvError):
    """Another process is creating or removing the same environment right now."""


class BuildFailed(HaiEnvError):
    """A build ran and failed; the env is left with status ``failed``, reason and log."""

    def __init__(self, message: str, *, log_path: str | None = None) -> None:
        super().__init__(message)
        self.log_path = log_path


class Unsupported(HaiEnvError):
    """A request this version of haienv deliberately does not do (the message says why)."""
