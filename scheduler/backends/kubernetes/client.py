"""The few Kubernetes API calls the backend makes, as plain dicts.

:class:`KubeApi` is the protocol; :class:`OfficialKubeApi` implements it with the official
``kubernetes`` client (in-cluster service account or a kubeconfig). Tests pass a fake that
replays recorded responses. Errors come out as the small exception family below, so the
rest of the backend never sees client-library types.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Protocol


class KubeError(RuntimeError):
    """An API call failed; ``status`` is the HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(KubeError):
    pass


class Conflict(KubeError):
    """409: the object exists already."""


class Gone(KubeError):
    """410: the resourceVersion a watch asked for is too old; list again."""


class Unavailable(KubeError):
    """The API server could not be reached or the connection broke."""


class KubeApi(Protocol):
    """What the backend needs from the API server (namespaced objects as JSON dicts)."""

    def list_pods(self, namespace: str, selector: str) -> tuple[list[dict[str, Any]], str]:
        """(pods, resourceVersion of the list)."""
        ...

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        """(type, object) events after ``resource_version`` until the server ends the
        stream. Raises Gone (410) or Unavailable."""
        ...

    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def read_pod(self, namespace: str, name: str) -> dict[str, Any]: ...

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        """A strategic-merge patch (annotations, spec.activeDeadlineSeconds)."""
        ...

    def delete_pod(self, namespace: str, name: str, grace_period_seconds: int | None) -> None: ...

    def create_service(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]: ...

    def list_services(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...

    def delete_service(self, namespace: str, name: str) -> None: ...

    def read_pod_log(
        self, namespace: str, name: str, container: str, limit_bytes: int | None
    ) -> bytes:
        """The container's log from its start, each line prefixed by its RFC 3339 time."""
        ...

    def list_nodes(self, selector: str) -> list[dict[str, Any]]: ...


def _translate(exc: Exception) -> KubeError:
    from kubernetes.client.exceptions import ApiException

    if isinstance(exc, ApiException):
        status = exc.status
        text = f"{exc.status} {exc.reason}"
        try:
            body = json.loads(exc.body or "{}")
            text = f"{text}: {body.get('message', '')}".rstrip(": ")
        except (TypeError, ValueError):
            pass
        cls = {404: NotFound, 409: Conflict, 410: Gone}.get(status or 0, KubeError)
        if status in (None, 0, 502, 503, 504):
            cls = Unavailable
        return cls(text, status)
    return Unavailable(f"{type(exc).__name__}: {exc}")


def _watch_event(event: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """(type, object) of one watch line; an ERROR event raises (410: :class:`Gone`)."""
    if event.get("type") == "ERROR":
        obj = event.get("object") or {}
        code = obj.get("code")
        message = f"watch: {obj.get('reason', '')}: {obj.get('message', obj)}"
        raise (Gone if code == 410 else KubeError)(message, code)
    return event["type"], event["object"]


class OfficialKubeApi:
    """:class:`KubeApi` over the official ``kubernetes`` client."""

    def __init__(self, kubeconfig: str = "", context: str = "", request_timeout: float = 30.0):
        from kubernetes import client, config

        configuration = client.Configuration()
        try:
            config.load_incluster_config(client_configuration=configuration)
        except config.ConfigException:
            config.load_kube_config(
                config_file=kubeconfig or None,
                context=context or None,
                client_configuration=configuration,
            )
        self._api_client = client.ApiClient(configuration)
        self.core = client.CoreV1Api(self._api_client)
        self.timeout = request_timeout

    def _json(self, obj: Any) -> Any:
        return self._api_client.sanitize_for_serialization(obj)

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("_request_timeout", self.timeout)
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            raise _translate(exc) from exc

    def list_pods(self, namespace: str, selector: str) -> tuple[list[dict[str, Any]], str]:
        resp = self._call(
            self.core.list_namespaced_pod,
            namespace,
            label_selector=selector,
            _preload_content=False,
        )
        data = json.loads(resp.data)
        return data.get("items") or [], data["metadata"]["resourceVersion"]

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        # The request is made here and its JSON lines parsed here: the client's Watch helper
        # fails on ERROR events when it does not deserialize (it looks for 'raw_object').
        resp = self._call(
            self.core.list_namespaced_pod,
            namespace,
            label_selector=selector,
            resource_version=resource_version,
            allow_watch_bookmarks=True,
            timeout_seconds=timeout_seconds,
            watch=True,
            _preload_content=False,
            _request_timeout=timeout_seconds + 30,
        )
        try:
            buf = b""
            for chunk in resp.stream(65536):
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if line.strip():
                        yield _watch_event(json.loads(line))
            if buf.strip():
                yield _watch_event(json.loads(buf))
        except KubeError:
            raise
        except Exception as exc:
            raise _translate(exc) from exc
        finally:
            resp.release_conn()

    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._call(self.core.create_namespaced_pod, namespace, body))

    def read_pod(self, namespace: str, name: str) -> dict[str, Any]:
        return self._json(self._call(self.core.read_namespaced_pod, name, namespace))

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._call(self.core.patch_namespaced_pod, name, namespace, patch))

    def delete_pod(self, namespace: str, name: str, grace_period_seconds: int | None) -> None:
        # The answer (the pod, or a Status) is not read: kubernetes 37's pydantic models
        # refuse to deserialize a Status as the V1Pod the method declares, so it is not
        # deserialized at all (_preload_content=False), which works with 36 and 37.
        kwargs: dict[str, Any] = {"_preload_content": False}
        if grace_period_seconds is not None:
            kwargs["grace_period_seconds"] = grace_period_seconds
        self._call(self.core.delete_namespaced_pod, name, namespace, **kwargs).read()

    def create_service(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._json(self._call(self.core.create_namespaced_service, namespace, body))

    def list_services(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        resp = self._call(
            self.core.list_namespaced_service,
            namespace,
            label_selector=selector,
            _preload_content=False,
        )
        return json.loads(resp.data).get("items") or []

    def delete_service(self, namespace: str, name: str) -> None:
        # not deserialized, as in delete_pod; read so the connection goes back to the pool
        self._call(
            self.core.delete_namespaced_service, name, namespace, _preload_content=False
        ).read()

    def read_pod_log(
        self, namespace: str, name: str, container: str, limit_bytes: int | None
    ) -> bytes:
        kwargs: dict[str, Any] = {"container": container, "timestamps": True}
        if limit_bytes:
            kwargs["limit_bytes"] = limit_bytes
        resp = self._call(
            self.core.read_namespaced_pod_log, name, namespace, _preload_content=False, **kwargs
        )
        return resp.data

    def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        resp = self._call(self.core.list_node, label_selector=selector, _preload_content=False)
        return json.loads(resp.data).get("items") or []
