"""The client's HTTP/1.1 transport (hai_client.transport) against real servers.

A small socket server answers each request with bytes the test chooses, so every framing
a server may use is exercised as it arrives on the wire: Content-Length, chunked, the end
of the connection, a 100 Continue first, a kept-alive connection the server closed, no
answer at all, and TLS with a certificate the client must refuse. The scheduler itself
(tornado) is covered by every CLI and API test.
"""

from __future__ import annotations

import socket
import ssl
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from hai_client.transport import (
    MAX_BODY,
    ConnectFailed,
    TimedOut,
    Transport,
    TransportError,
    tls_context,
)

Answer = Callable[[socket.socket, bytes], bool]  # (connection, request) -> keep it open


class RawServer:
    """Accepts connections; for each request calls ``answer`` with the request's bytes."""

    def __init__(self, answer: Answer, wrap: ssl.SSLContext | None = None) -> None:
        self.answer = answer
        self.wrap = wrap
        self.requests: list[bytes] = []
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            if self.wrap is not None:
                conn = self.wrap.wrap_socket(conn, server_side=True)
            with conn:
                while request := _read_request(conn):
                    self.requests.append(request)
                    if not self.answer(conn, request):
                        return
        except (OSError, ssl.SSLError):
            return

    def close(self) -> None:
        self.listener.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            size = int(line.split(b":")[1])
            while len(body) < size:
                body += conn.recv(65536)
    return data


@pytest.fixture
def serve() -> Iterator[Callable[..., RawServer]]:
    servers: list[RawServer] = []

    def start(answer: Answer, wrap: ssl.SSLContext | None = None) -> RawServer:
        servers.append(RawServer(answer, wrap))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def replies(*raw: bytes, keep: bool = True) -> Answer:
    def answer(conn: socket.socket, request: bytes) -> bool:
        conn.sendall(b"".join(raw))
        return keep

    return answer


def transport(server: RawServer, *, scheme: str = "http", timeout: float = 5.0) -> Transport:
    return Transport(f"{scheme}://127.0.0.1:{server.port}/pre/api", {"X-Test": "1"}, timeout)


def test_a_json_request_and_a_content_length_answer(serve) -> None:
    srv = serve(replies(b'HTTP/1.1 201 Created\r\nContent-Length: 8\r\n\r\n{"a": 1}'))
    t = transport(srv)
    resp = t.request("POST", "/chains", json={"x": [1]}, params={"all": True, "n": 2})
    assert (resp.status_code, resp.json()) == (201, {"a": 1})
    head, _, body = srv.requests[0].partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /pre/api/chains?all=true&n=2 HTTP/1.1"
    assert f"Host: 127.0.0.1:{srv.port}" in lines and "X-Test: 1" in lines
    assert "Content-Type: application/json" in lines and "Content-Length: 9" in lines
    assert body == b'{"x":[1]}'


def test_chunked_answers_and_one_kept_alive_connection(serve) -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\n[1,\r\n2;x=y\r\n2]\r\n0\r\n\r\n"
    )
    srv = serve(replies(chunked))
    t = transport(srv)
    assert [t.request("GET", "/x").json() for _ in range(3)] == [[1, 2]] * 3
    assert srv.connections == 1


def test_an_answer_framed_by_the_end_of_the_connection(serve) -> None:
    srv = serve(replies(b"HTTP/1.0 200 OK\r\n\r\n[true]", keep=False))
    t = transport(srv)
    assert t.request("GET", "/x").json() == [True]
    assert t.request("GET", "/x").json() == [True]
    assert srv.connections == 2


def test_100_continue_then_the_answer_and_no_body_for_204(serve) -> None:
    srv = serve(
        replies(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        )
    )
    resp = transport(srv).request("DELETE", "/quotas/x")
    assert (resp.status_code, resp.body) == (204, b"")


def test_a_kept_alive_connection_closed_by_the_server_is_opened_again_once(serve) -> None:
    srv = serve(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}", keep=False))
    t = transport(srv)
    assert t.request("GET", "/a").json() == {}
    assert t.request("POST", "/b", json={}).json() == {}  # the old socket is dead: reopened
    assert srv.connections == 2 and len(srv.requests) == 2  # nothing was sent twice


def test_a_fresh_connection_closed_without_an_answer_is_an_error(serve) -> None:
    srv = serve(replies(b"", keep=False))
    with pytest.raises(TransportError, match="closed before an answer"):
        transport(srv).request("GET", "/x")
    assert len(srv.requests) == 1


def test_no_answer_in_time(serve) -> None:
    srv = serve(lambda conn, request: threading.Event().wait(10) or False)
    with pytest.raises(TimedOut):
        transport(srv, timeout=0.3).request("GET", "/x")


def test_nothing_listening() -> None:
    with socket.create_server(("127.0.0.1", 0)) as s:
        port = s.getsockname()[1]
    with pytest.raises(ConnectFailed, match="refused"):
        Transport(f"http://127.0.0.1:{port}/", {}, 5.0).request("GET", "/")


@pytest.mark.parametrize(
    "raw",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
        b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n" + b"X: y\r\n" * 101 + b"\r\n",
        b"HTTP/1.1 200 OK\r\nX: " + b"y" * 70000 + b"\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % (MAX_BODY + 1),
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n" % (MAX_BODY + 1),
    ],
    ids=[
        "not-http",
        "short-body",
        "bad-length",
        "bad-header",
        "too-many-headers",
        "header-line-too-long",
        "body-too-large",
        "chunk-too-large",
    ],
)
def test_a_malformed_answer_is_one_transport_error(serve, raw: bytes) -> None:
    srv = serve(replies(raw, keep=False))
    with pytest.raises(TransportError) as err:
        transport(srv).request("GET", "/x")
    assert type(err.value) is TransportError and str(err.value)


def test_an_https_scheduler_gets_a_verifying_tls_connection(serve, tmp_path: Path) -> None:
    """A server whose certificate the system does not trust is refused, before any
    request (and its token) is sent."""
    ctx = tls_context()
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    new_self_signed = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subprocess.run(
        [*new_self_signed, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    srv = serve(replies(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}"), wrap=server_ctx)
    with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
        transport(srv, scheme="https").request("GET", "/x")
    assert srv.requests == []
    assert Transport("https://hai.example.org/api/v1", {}, 5.0).port == 443
