"""A tiny HTTP server speaking the few Kubernetes API paths the backend uses, backed by
:class:`FakeKube`; it lets the tests drive the *official* client (``OfficialKubeApi``) over
real HTTP: JSON lists, streamed watches (with a 410 ERROR event), Status errors, logs.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from scheduler.backends.kubernetes.client import Conflict, Gone, NotFound
from tests.k8s_fixtures.fakekube import FakeKube, _matches

NS_PATH = re.compile(
    r"^/api/v1/namespaces/(?P<ns>[^/]+)/(?P<kind>pods|services)(?:/(?P<name>[^/]+))?(?P<log>/log)?$"
)


def _status(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


class FakeApiServer:
    """Serves a FakeKube on 127.0.0.1:<port>; ``requests`` records what the client sent."""

    def __init__(self, kube: FakeKube, watch_seconds: float = 0.3) -> None:
        self.kube = kube
        self.watch_seconds = watch_seconds
        self.requests: list[dict[str, Any]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # a watch ends when the connection closes

            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: Any, ctype: str = "application/json") -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                url = urlparse(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                server.requests.append(
                    {
                        "method": method,
                        "path": url.path,
                        "query": query,
                        "content_type": self.headers.get("Content-Type"),
                        "body": body,
                    }
                )
                try:
                    server.route(self, method, url.path, query, body)
                except NotFound as exc:
                    self._send(404, _status(404, "NotFound", str(exc)))
                except Conflict as exc:
                    self._send(409, _status(409, "AlreadyExists", str(exc)))

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_PATCH(self) -> None:
                self._handle("PATCH")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeApiServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def kubeconfig(self) -> str:
        return (
            "apiVersion: v1\nkind: Config\n"
            f"clusters: [{{name: fake, cluster: {{server: 'http://127.0.0.1:{self.port}'}}}}]\n"
            "users: [{name: fake, user: {token: fake-token}}]\n"
            "contexts: [{name: fake, context: {cluster: fake, user: fake}}]\n"
            "current-context: fake\n"
        )

    # -- the API --------------------------------------------------------------------------
    def route(self, h: Any, method: str, path: str, q: dict[str, str], body: Any) -> None:
        k = self.kube
        if path == "/api/v1/nodes":
            h._send(
                200,
                {
                    "kind": "NodeList",
                    "apiVersion": "v1",
                    "metadata": {},
                    "items": k.list_nodes(q.get("labelSelector", "")),
                },
            )
            return
        m = NS_PATH.match(path)
        assert m, path
        ns, kind, name, log = m["ns"], m["kind"], m["name"], m["log"]
        if kind == "pods" and name is None and method == "GET":
            if q.get("watch", "").lower() == "true":
                self.watch(h, ns, q)
            else:
                items, rv = k.list_pods(ns, q.get("labelSelector", ""))
                h._send(
                    200,
                    {
                        "kind": "PodList",
                        "apiVersion": "v1",
                        "metadata": {"resourceVersion": rv},
                        "items": items,
                    },
                )
        elif kind == "pods" and method == "POST":
            h._send(201, k.create_pod(ns, body))
        elif kind == "pods" and log:
            data = k.read_pod_log(
                ns,
                name,
                q.get("container", ""),
                int(q["limitBytes"]) if "limitBytes" in q else None,
            )
            h._send(200, data, "text/plain")
        elif kind == "pods" and method == "GET":
            h._send(200, k.read_pod(ns, name))
        elif kind == "pods" and method == "PATCH":
            h._send(200, k.patch_pod(ns, name, body))
        elif kind == "pods" and method == "DELETE":
            grace = q.get("gracePeriodSeconds")
            k.delete_pod(ns, name, int(grace) if grace is not None else None)
            h._send(200, _status(200, "", "") | {"status": "Success"})
        elif kind == "services" and method == "POST":
            h._send(201, k.create_service(ns, body))
        elif kind == "services" and method == "GET":
            h._send(
                200,
                {
                    "kind": "ServiceList",
                    "apiVersion": "v1",
                    "metadata": {"resourceVersion": "1"},
                    "items": k.list_services(ns, q.get("labelSelector", "")),
                },
            )
        elif kind == "services" and method == "DELETE":
            k.delete_service(ns, name)
            h._send(200, _status(200, "", "") | {"status": "Success"})
        else:
            raise AssertionError((method, path))

    def watch(self, h: Any, ns: str, q: dict[str, str]) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.end_headers()
        rv = int(q.get("resourceVersion") or 0)
        selector = q.get("labelSelector", "")
        if rv < self.kube.compacted_rv:
            line = {
                "type": "ERROR",
                "object": _status(410, "Expired", f"too old resource version: {rv}"),
            }
            h.wfile.write(json.dumps(line).encode() + b"\n")
            return
        deadline = time.monotonic() + min(self.watch_seconds, float(q.get("timeoutSeconds", 1)))
        while time.monotonic() < deadline:
            for erv, kind, obj in list(self.kube.events):
                if erv > rv and _matches(obj["metadata"].get("labels"), selector):
                    h.wfile.write(json.dumps({"type": kind, "object": obj}).encode() + b"\n")
                    h.wfile.flush()
                    rv = erv
            time.sleep(0.02)
        bookmark = {
            "type": "BOOKMARK",
            "object": {"kind": "Pod", "apiVersion": "v1", "metadata": {"resourceVersion": str(rv)}},
        }
        h.wfile.write(json.dumps(bookmark).encode() + b"\n")


__all__ = ["FakeApiServer", "Gone"]
