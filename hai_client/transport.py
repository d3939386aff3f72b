"""The client's HTTP transport: one keep-alive connection to the scheduler, stdlib only.

Why not httpx: ``hai-cli`` makes one or two requests per run and must answer in tens of
milliseconds; importing httpx and httpcore alone cost ~45 ms of a ~100 ms command (issue
#15), and they bring anyio, h11, certifi and friends to a laptop that only wants the CLI.
:mod:`http.client` does what this client needs (JSON requests on one connection, a
timeout, TLS), so this module only maps its errors to three kinds the client words for
people. TLS: certificates are loaded (~18 ms) only for an ``https`` scheduler.
Proxies: the scheduler is reached directly (``*_proxy`` variables are not read).
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

JSON_TYPE = "application/json"


class TransportError(Exception):
    """The request did not get an answer."""


class ConnectFailed(TransportError):
    """Nothing listens there, or the name does not resolve."""


class TimedOut(TransportError):
    """Connected, but no answer within the timeout."""


class Response:
    """A status and a body read in full."""

    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


def _tls_context() -> Any:
    import ssl  # only an https scheduler pays for it

    return ssl.create_default_context()


class Transport:
    """Requests to paths under ``base_url`` (e.g. ``http://host:8000/prefix/api/v1``)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], timeout: float) -> None:
        parts = urlsplit(base_url)
        self.https = parts.scheme == "https"
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or (443 if self.https else 80)
        self.prefix = parts.path.rstrip("/")
        self.headers = dict(headers)
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> Response:
        """Send one request; a kept-alive connection the server closed meanwhile is opened
        again once (before any byte of the answer arrived, so nothing is sent twice)."""
        target = self.prefix + path
        if params:
            target += "?" + urlencode({k: _param(v) for k, v in params.items()})
        headers = dict(self.headers)
        body = None
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = JSON_TYPE
        reused = self._conn is not None
        try:
            return self._send(method, target, body, headers)
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            self.close()
            if not reused:
                raise TransportError("the connection was closed before an answer") from None
            return self._send(method, target, body, headers)

    def _send(
        self, method: str, target: str, body: bytes | None, headers: dict[str, str]
    ) -> Response:
        conn = self._connection()
        try:
            conn.request(method, target, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
        except TimeoutError:
            self.close()
            raise TimedOut("no answer in time") from None
        except (ConnectionRefusedError, socket.gaierror) as exc:
            self.close()
            raise ConnectFailed(str(exc)) from None
        except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
            raise
        except (OSError, http.client.HTTPException) as exc:
            self.close()
            raise TransportError(str(exc) or type(exc).__name__) from None
        if resp.will_close:
            self.close()
        return Response(resp.status, data)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            if self.https:
                self._conn = http.client.HTTPSConnection(
                    self.host, self.port, timeout=self.timeout, context=_tls_context()
                )
            else:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
