"""The client's HTTP transport: one keep-alive HTTP/1.1 connection to the scheduler.

Why not httpx, or the standard library's http.client: ``hai-cli`` makes one or two
requests per run and must answer in tens of milliseconds (issue #15). httpx and httpcore
cost ~45 ms to import and bring anyio, h11 and certifi to a laptop that only wants the
CLI; :mod:`http.client` costs ~12 ms, mostly for :mod:`email` (its header parser) and
:mod:`ssl`, which an ``http`` scheduler never uses. What this client needs of HTTP is
small and fixed -- JSON requests on one connection, answers framed by Content-Length or
chunked, a timeout, TLS -- so it is written here on :mod:`socket` (~100 lines), and
``tests/test_transport.py`` checks it against a real server, chunked answers, a kept-alive
connection the server closed, a timeout and TLS verification.

TLS: :mod:`ssl` is imported and certificates are loaded (~18 ms) only for an ``https``
scheduler. Proxies: the scheduler is reached directly (``*_proxy`` variables are not read).
"""

from __future__ import annotations

import json
import socket
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (start-up)
if TYPE_CHECKING:
    from typing import Any, BinaryIO

JSON_TYPE = "application/json"
#: the most this client reads of a status line or one header line, and of header lines
MAX_LINE = 65536
MAX_HEADERS = 100
#: the largest answer body read (the API's largest, a page of logs, is 1 MiB of lines)
MAX_BODY = 64 << 20


class TransportError(Exception):
    """The request did not get an answer."""


class ConnectFailed(TransportError):
    """Nothing listens there, or the name does not resolve."""


class TimedOut(TransportError):
    """Connected, but no answer within the timeout."""


class _Closed(TransportError):
    """The server closed the connection before the first byte of an answer."""


class Response:
    """A status and a body read in full."""

    __slots__ = ("body", "status_code")

    def __init__(self, status_code: int, body: bytes) -> None:
        self.status_code = status_code
        self.body = body

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not."""
        return json.loads(self.body)


def tls_context() -> Any:
    """A verifying TLS context (the system's certificates, host names checked)."""
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
        default_port = self.port == (443 if self.https else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.headers = {"Host": host if default_port else f"{host}:{self.port}", **headers}
        self.timeout = timeout
        self._conn: _Connection | None = None

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
        body = b""
        if json is not None:
            body = _dumps(json)
            headers["Content-Type"] = JSON_TYPE
        head = _request_head(method, target, headers, len(body))
        reused = self._conn is not None
        try:
            return self._send(head + body, method)
        except _Closed:
            self.close()
            if not reused:
                raise TransportError("the connection was closed before an answer") from None
            return self._send(head + body, method)

    def _send(self, message: bytes, method: str) -> Response:
        try:
            conn = self._connection()
            status, body, keep = conn.exchange(message, head_only=method == "HEAD")
        except TimeoutError:
            self.close()
            raise TimedOut("no answer in time") from None
        except (ConnectionRefusedError, socket.gaierror) as exc:
            self.close()
            raise ConnectFailed(str(exc)) from None
        except (OSError, ValueError) as exc:
            self.close()
            raise TransportError(str(exc) or type(exc).__name__) from None
        if not keep:
            self.close()
        return Response(status, body)

    def _connection(self) -> _Connection:
        if self._conn is None:
            sock = socket.create_connection((self.host, self.port), self.timeout)
            if self.https:
                try:
                    sock = tls_context().wrap_socket(sock, server_hostname=self.host)
                except BaseException:
                    sock.close()
                    raise
            self._conn = _Connection(sock)
        return self._conn


class _Connection:
    """One socket: writes a request, reads the answer's status, headers and body."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.reader: BinaryIO = sock.makefile("rb")

    def close(self) -> None:
        self.reader.close()
        self.sock.close()

    def exchange(self, message: bytes, *, head_only: bool) -> tuple[int, bytes, bool]:
        """(status, body, whether the connection stays open) of one request."""
        try:
            self.sock.sendall(message)
        except (BrokenPipeError, ConnectionResetError):
            raise _Closed() from None
        version, status, headers = self._read_head()
        keep = _keeps_alive(version, headers)
        if head_only or status in (204, 304):
            return status, b"", keep
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return status, self._read_chunked(), keep
        if "content-length" in headers:
            return status, self._read_exactly(_length(headers["content-length"])), keep
        body = self.reader.read(MAX_BODY + 1)  # framed by the end of the connection
        if len(body) > MAX_BODY:
            raise ValueError(f"the answer is larger than {MAX_BODY >> 20} MiB")
        return status, body, False

    def _read_head(self) -> tuple[str, int, dict[str, str]]:
        while True:
            try:
                line = self.reader.readline(MAX_LINE + 1)
            except ConnectionResetError:
                raise _Closed() from None
            if not line:
                raise _Closed()
            version, status = _status_line(line)
            headers = self._read_headers()
            if status >= 200:  # a 1xx (e.g. 100 Continue) precedes the real answer
                return version, status, headers

    def _read_headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADERS + 1):
            line = self.reader.readline(MAX_LINE + 1)
            if len(line) > MAX_LINE:
                raise ValueError("an answer's header line is too long")
            if line in (b"\r\n", b"\n", b""):
                return headers
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise ValueError(f"a malformed header line: {line[:80]!r}")
            headers[name.strip().lower()] = value.strip()
        raise ValueError(f"the answer has more than {MAX_HEADERS} headers")

    def _read_exactly(self, size: int) -> bytes:
        if size > MAX_BODY:
            raise ValueError(f"the answer is larger than {MAX_BODY >> 20} MiB")
        data = self.reader.read(size)
        if len(data) < size:
            raise ValueError(f"the answer ended after {len(data)} of {size} bytes")
        return data

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.reader.readline(MAX_LINE + 1)
            size = int(size_line.split(b";", 1)[0].strip() or b"x", 16)
            if size == 0:
                self._read_headers()  # trailers, up to the blank line
                return b"".join(parts)
            total += size
            parts.append(self._read_exactly(size if total <= MAX_BODY else MAX_BODY + 1))
            self._read_exactly(2)  # the CRLF after each chunk


def _request_head(method: str, target: str, headers: Mapping[str, str], length: int) -> bytes:
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if length or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _status_line(line: bytes) -> tuple[str, int]:
    parts = line.decode("latin-1").split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise ValueError(f"not an HTTP answer: {line[:80]!r}")
    return parts[0], int(parts[1])


def _keeps_alive(version: str, headers: Mapping[str, str]) -> bool:
    connection = headers.get("connection", "").lower()
    if version == "HTTP/1.0":
        return "keep-alive" in connection
    return "close" not in connection


def _length(value: str) -> int:
    if not value.isdigit():
        raise ValueError(f"a malformed Content-Length: {value[:40]!r}")
    return int(value)


def _param(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()
