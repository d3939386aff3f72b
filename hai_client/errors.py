"""The one error type of the HAI client: :class:`HaiError`, with a message fit to show."""

from __future__ import annotations


class HaiError(Exception):
    """Something the user should read: an unreachable server, a refused token, a bad spec.

    ``status`` is the HTTP status when the server answered, ``field`` the request field the
    server named.
    """

    def __init__(self, message: str, *, status: int | None = None, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.field = field

    def __str__(self) -> str:
        return self.message
