"""A fake Kubernetes API for the backend's tests: an in-memory namespace that records every
call, keeps an event log with resourceVersions for list+watch, and replays the recorded pod
states of this folder onto the pods the backend created.

Watches return the events after the asked resourceVersion that exist at call time, then end
(as a server-side timeout would). Faults are scripted: ``watch_faults`` is a queue whose
entries make the next watch break after N events (``("disconnect", n)``) or answer 410
(``("gone", 0)``); ``compact()`` makes every older resourceVersion expire, as etcd
compaction does.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from scheduler.backends.kubernetes.client import Conflict, Gone, NotFound, Unavailable

HERE = Path(__file__).resolve().parent


def load_sequence(name: str) -> dict[str, Any]:
    return json.loads((HERE / f"{name}.json").read_text())


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _matches(labels: dict[str, str] | None, selector: str) -> bool:
    labels = labels or {}
    for term in filter(None, selector.split(",")):
        if "=" in term:
            k, v = term.split("=", 1)
            if labels.get(k) != v:
                return False
        elif term not in labels:
            return False
    return True


class FakeKube:
    """Implements scheduler.backends.kubernetes.client.KubeApi in memory."""

    def __init__(self, clock: Callable[[], float], namespace: str = "hai-tasks") -> None:
        self.clock = clock
        self.namespace = namespace
        self.pods: dict[str, dict[str, Any]] = {}
        self.services: dict[str, dict[str, Any]] = {}
        self.nodes: list[dict[str, Any]] = []
        self.logs: dict[str, bytes] = {}
        self.events: list[tuple[int, str, dict[str, Any]]] = []
        self.calls: list[tuple[str, ...]] = []
        self.watch_faults: list[tuple[str, int]] = []
        self._rv = itertools.count(100)
        self.rv = 0
        self.compacted_rv = 0

    def __deepcopy__(self, memo: dict) -> FakeKube:  # traitlets deep-copies config values
        return self

    # -- bookkeeping -----------------------------------------------------------------------
    def _bump(self, kind: str, pod: dict[str, Any]) -> None:
        self.rv = next(self._rv)
        pod["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append((self.rv, kind, copy.deepcopy(pod)))

    def compact(self) -> None:
        """Every resourceVersion older than now is gone (410 for watches from it)."""
        self.compacted_rv = self.rv

    def calls_of(self, method: str) -> list[tuple[str, ...]]:
        return [c for c in self.calls if c[0] == method]

    # -- driving pods as the cluster would ------------------------------------------------------
    def set_pod(self, name: str, recorded: dict[str, Any]) -> dict[str, Any]:
        """Give pod ``name`` the state of a recorded pod (status, node, deletion, annotations)."""
        pod = self.pods[name]
        pod["status"] = copy.deepcopy(recorded.get("status") or {})
        node = (recorded.get("spec") or {}).get("nodeName")
        if node:
            pod["spec"]["nodeName"] = node
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            if field in recorded["metadata"]:
                pod["metadata"][field] = recorded["metadata"][field]
        self._bump("MODIFIED", pod)
        if pod["metadata"].get("deletionTimestamp") and pod["status"].get("phase") in (
            "Succeeded",
            "Failed",
        ):
            self.remove_pod(name)  # being deleted and nothing runs: the kubelet confirms
        return pod

    def play(self, name: str, sequence: str, step: int) -> dict[str, Any]:
        """Apply step ``step`` of a recorded sequence to pod ``name`` (DELETED removes it)."""
        event = load_sequence(sequence)["events"][step]
        if event["type"] == "DELETED":
            return self.remove_pod(name)
        return self.set_pod(name, event["object"])

    def remove_pod(self, name: str) -> dict[str, Any]:
        """The pod is gone from the API (the kubelet confirmed, or it was force-deleted)."""
        pod = self.pods.pop(name)
        self._bump("DELETED", pod)
        return pod

    def add_pod(self, pod: dict[str, Any]) -> dict[str, Any]:
        """A pod that exists in the cluster already (e.g. before a scheduler restart)."""
        pod = copy.deepcopy(pod)
        pod["metadata"].setdefault("uid", str(uuid.uuid4()))
        pod["metadata"].setdefault("creationTimestamp", _iso(self.clock()))
        pod["metadata"].setdefault("namespace", self.namespace)
        self.pods[pod["metadata"]["name"]] = pod
        self._bump("ADDED", pod)
        return pod

    # -- KubeApi -------------------------------------------------------------------------------
    def list_pods(self, namespace: str, selector: str) -> tuple[list[dict[str, Any]], str]:
        self.calls.append(("list_pods", selector))
        items = [
            copy.deepcopy(p)
            for p in self.pods.values()
            if _matches(p["metadata"].get("labels"), selector)
        ]
        return items, str(self.rv)

    def watch_pods(
        self, namespace: str, selector: str, resource_version: str, timeout_seconds: int
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        self.calls.append(("watch_pods", resource_version))
        fault = self.watch_faults.pop(0) if self.watch_faults else None
        if (fault and fault[0] == "gone") or int(resource_version) < self.compacted_rv:
            raise Gone("too old resource version", 410)
        sent = 0
        for rv, kind, obj in list(self.events):
            if rv <= int(resource_version) or not _matches(obj["metadata"].get("labels"), selector):
                continue
            if fault and fault[0] == "disconnect" and sent >= fault[1]:
                raise Unavailable("connection reset by peer")
            sent += 1
            yield kind, copy.deepcopy(obj)
        if fault and fault[0] == "disconnect":
            raise Unavailable("connection reset by peer")

    def create_pod(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create_pod", name))
        if name in self.pods:
            raise Conflict(f'pods "{name}" already exists', 409)
        pod = copy.deepcopy(body)
        pod["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=_iso(self.clock()))
        pod["status"] = {"phase": "Pending", "qosClass": "BestEffort"}
        self.pods[name] = pod
        self._bump("ADDED", pod)
        return copy.deepcopy(pod)

    def read_pod(self, namespace: str, name: str) -> dict[str, Any]:
        self.calls.append(("read_pod", name))
        if name not in self.pods:
            raise NotFound(f'pods "{name}" not found', 404)
        return copy.deepcopy(self.pods[name])

    def patch_pod(self, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        self.calls.append(("patch_pod", name, json.dumps(patch, sort_keys=True)))
        if name not in self.pods:
            raise NotFound(f'pods "{name}" not found', 404)
        pod = self.pods[name]
        annotations = (patch.get("metadata") or {}).get("annotations") or {}
        pod["metadata"].setdefault("annotations", {}).update(annotations)
        deadline = (patch.get("spec") or {}).get("activeDeadlineSeconds")
        if deadline is not None:
            pod["spec"]["activeDeadlineSeconds"] = deadline
        self._bump("MODIFIED", pod)
        return copy.deepcopy(pod)

    def delete_pod(self, namespace: str, name: str, grace_period_seconds: int | None) -> None:
        self.calls.append(("delete_pod", name, str(grace_period_seconds)))
        if name not in self.pods:
            raise NotFound(f'pods "{name}" not found', 404)
        pod = self.pods[name]
        phase = (pod.get("status") or {}).get("phase")
        if (
            grace_period_seconds == 0
            or phase in ("Succeeded", "Failed")
            or not pod["spec"].get("nodeName")
        ):
            self.remove_pod(name)  # nothing runs: the API deletes it at once
            return
        grace = grace_period_seconds
        if grace is None:
            grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        if "deletionTimestamp" not in pod["metadata"]:
            pod["metadata"]["deletionTimestamp"] = _iso(self.clock() + grace)
            pod["metadata"]["deletionGracePeriodSeconds"] = grace
            self._bump("MODIFIED", pod)

    def create_service(self, namespace: str, body: dict[str, Any]) -> dict[str, Any]:
        name = body["metadata"]["name"]
        self.calls.append(("create_service", name))
        if name in self.services:
            raise Conflict(f'services "{name}" already exists', 409)
        self.services[name] = copy.deepcopy(body)
        return copy.deepcopy(body)

    def list_services(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(s)
            for s in self.services.values()
            if _matches(s["metadata"].get("labels"), selector)
        ]

    def delete_service(self, namespace: str, name: str) -> None:
        self.calls.append(("delete_service", name))
        if self.services.pop(name, None) is None:
            raise NotFound(f'services "{name}" not found', 404)

    def read_pod_log(
        self, namespace: str, name: str, container: str, limit_bytes: int | None
    ) -> bytes:
        self.calls.append(("read_pod_log", name))
        if name not in self.pods:
            raise NotFound(f'pods "{name}" not found', 404)
        data = self.logs.get(name, b"")
        return data[:limit_bytes] if limit_bytes else data

    def list_nodes(self, selector: str) -> list[dict[str, Any]]:
        return [
            copy.deepcopy(n) for n in self.nodes if _matches(n["metadata"].get("labels"), selector)
        ]


def make_node(
    name: str, group: str, gpus: int = 8, *, ready: bool = True, prefix: str = "hai"
) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {f"{prefix}_mars_group": group, "kubernetes.io/hostname": name},
        },
        "spec": {},
        "status": {
            "allocatable": {"cpu": "96", "memory": "1Ti", "nvidia.com/gpu": str(gpus)},
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }
