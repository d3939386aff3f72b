"""KubernetesBackend: each rank is a pod on its assigned node; each job has a headless service.

Select it with ``c.SchedulerApp.backend_class = "scheduler.backends.kubernetes.backend.
KubernetesBackend"``; its traits are in :mod:`.config`.

- ``start_rank`` creates the job's service (once) and the rank's pod; a pod that exists
  already (a scheduler restarted between creating it and recording that) is adopted.
- ``poll_rank`` reads the in-memory view of :mod:`.watch` and maps it with :mod:`.mapping`;
  it never waits on the API (except for the very first list after start).
- ``request_suspend`` sets the pod's ``hai.io/suspend`` annotation to ``"1"``; the
  downward-API file the user's code reads follows (see :mod:`.rankrun`).
- ``terminate`` lowers the pod's ``activeDeadlineSeconds`` so the kubelet stops it with its
  ``terminationGracePeriodSeconds`` (SIGTERM, then SIGKILL) and the pod, with its log,
  stays until the sweep; forced, it deletes the pod with a grace of 1 s.
- ``read_log`` reads the pod log API, or the archive once the pod is gone.
- :meth:`KubernetesBackend.sweep` deletes orphans and finished pods (see :mod:`.sweep`);
  a background thread runs it every ``sweep_seconds``, and once right after start.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.utils import parse_quantity  # once at start-up (the package is large)

from scheduler.backends.base import LogChunk, NodeSpec, RankKey, RankLaunch, RankObservation
from scheduler.backends.kubernetes import logs, names
from scheduler.backends.kubernetes.client import (
    Conflict,
    KubeApi,
    KubeError,
    NotFound,
    OfficialKubeApi,
)
from scheduler.backends.kubernetes.config import KubernetesSettings
from scheduler.backends.kubernetes.manifests import job_service, rank_pod
from scheduler.backends.kubernetes.mapping import (
    PodView,
    observe_missing,
    observe_pod,
    parse_time,
    to_observation,
)
from scheduler.backends.kubernetes.sweep import SweepPlan, plan_sweep
from scheduler.backends.kubernetes.watch import PodWatcher

FORCE_GRACE_SECONDS = 1


class KubernetesBackend(KubernetesSettings):
    """Runs ranks as pods; follows them with list+watch; level-triggered after restarts."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock: Callable[[], float] = time.time
        self._api: KubeApi | None = self.api
        self._watcher: PodWatcher | None = None
        self._nodes: dict[str, NodeSpec] = {}
        self._settings = self.pod_settings()  # validate the configuration early
        self._lock = threading.Lock()
        self._sweeper: threading.Thread | None = None
        self._stop = threading.Event()
        self._waited_first_sync = False

    # -- plumbing -------------------------------------------------------------------------
    @property
    def kube(self) -> KubeApi:
        if self._api is None:
            self._api = OfficialKubeApi(self.kubeconfig, self.kube_context)
        return self._api

    @property
    def watcher(self) -> PodWatcher:
        with self._lock:
            if self._watcher is None:
                self._watcher = PodWatcher(
                    self.kube,
                    self.namespace,
                    names.instance_selector(self.instance),
                    clock=lambda: self.clock(),
                    watch_timeout=self.watch_timeout_seconds,
                    resync_seconds=self.resync_seconds,
                )
            return self._watcher

    def _ensure_watch(self) -> bool:
        """Start following pods (lazily); True once the first list is in.

        In thread mode the first call waits up to ``first_sync_timeout`` for the first
        list (so a restarted scheduler sees its pods before judging any rank); later calls
        never wait: while the API is unreachable, ranks simply show no change.
        """
        w = self.watcher
        if w.synced:
            return True
        if self.watch_thread:
            self._start_threads()
            if not self._waited_first_sync:
                self._waited_first_sync = True
                return w.wait_synced(self.first_sync_timeout)
            return False
        try:
            w.relist()
        except KubeError as exc:
            self.log.warning("cannot list pods: %s", exc)
        return w.synced

    def _start_threads(self) -> None:
        self.watcher.start()
        self._start_sweeper()

    def _start_sweeper(self) -> None:
        if self._sweeper is not None or self.sweep_seconds <= 0:
            return
        self._sweeper = threading.Thread(target=self._sweep_loop, name="hai-sweep", daemon=True)
        self._sweeper.start()

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            if self.watcher.wait_synced(self.sweep_seconds):
                try:
                    self.sweep()
                except Exception:
                    self.log.exception("sweeping pods failed")
            self._stop.wait(self.sweep_seconds)

    def close(self) -> None:
        """Stop the background threads (they are daemons; this is for tests and shutdown)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.stop()

    # -- nodes ----------------------------------------------------------------------------
    def discover_nodes(self) -> list[NodeSpec]:
        """Labelled, Ready, schedulable nodes; a node's GPUs are its allocatable
        ``gpu_resource`` (or, on a MIG node, its MIG slices)."""
        if self.static_nodes:
            specs = [
                NodeSpec(
                    name=n["name"],
                    group=n.get("group", "default"),
                    gpu_ids=tuple(str(i) for i in range(int(n.get("gpus", 0)))),
                )
                for n in self.static_nodes
            ]
        else:
            label = names.group_label(self.node_label_prefix)
            specs = [
                spec
                for node in self.kube.list_nodes(label)
                if (spec := node_spec(node, label, self.gpu_resource)) is not None
            ]
        self._nodes = {s.name: s for s in specs}
        if self.watch_thread:  # the app's first call: start following pods now
            self._start_threads()
        return specs

    def _node_spec(self, name: str) -> NodeSpec | None:
        if name not in self._nodes:
            try:
                self.discover_nodes()
            except KubeError as exc:
                self.log.warning("cannot list nodes: %s", exc)
        return self._nodes.get(name)

    # -- starting -------------------------------------------------------------------------
    def start_rank(self, launch: RankLaunch) -> dict[str, Any]:
        key = launch.key
        settings = self._settings
        node = self._node_spec(launch.node)
        # the chain's count, else the whole node's GPUs (a CPU node has none), else the default
        whole = node.gpus if node is not None else self.default_gpus_per_node
        gpus = launch.gpus or whole
        port = int(launch.env.get("MASTER_PORT", "0") or 0) or None
        svc = job_service(settings, key.chain_id, key.job_seq, port)
        with contextlib.suppress(Conflict):  # another rank (or an earlier scheduler) made it
            self.kube.create_service(self.namespace, svc)
        body = rank_pod(launch, settings, group=node.group if node else None, gpus=gpus)
        name = body["metadata"]["name"]
        try:
            pod = self.kube.create_pod(self.namespace, body)
            adopted = False
        except Conflict:
            pod = self.kube.read_pod(self.namespace, name)
            if names.key_from_labels(pod["metadata"].get("labels")) != key:
                raise RuntimeError(f"pod {name} exists and belongs to something else") from None
            adopted = True
        handle = {
            "pod": name,
            "namespace": self.namespace,
            "uid": pod["metadata"].get("uid", ""),
            "created_at": self.clock(),
        }
        if adopted:
            handle["adopted"] = True
            self.log.info("%s: adopted existing pod %s", key, name)
        return handle

    # -- observing ------------------------------------------------------------------------
    def view(self, key: RankKey, handle: dict[str, Any]) -> PodView:
        """The rank's pod view from the watch cache (no API call)."""
        now = self.clock()
        if not self._ensure_watch():
            return PodView("created", reason="waiting for the first list of pods")
        w = self.watcher
        pod, tomb = w.get(key)
        if pod is not None:
            return observe_pod(pod, now=now, build_timeout=self.build_timeout_seconds)
        if tomb is not None and (not handle.get("uid") or _uid(tomb.last) == handle.get("uid")):
            return observe_missing(tomb.last, tomb.why, now=now)
        if not handle.get("pod"):
            return PodView("gone", reason="the rank was never started")
        created = float(handle.get("created_at") or 0)
        if w.synced_at is not None and created < w.synced_at:
            return PodView("gone", reason=f"pod {handle['pod']} no longer exists")
        return PodView("created", reason="the pod is not in the watch yet")

    def poll_rank(self, key: RankKey, handle: dict[str, Any]) -> RankObservation:
        obs = to_observation(self.view(key, handle))
        pod = self.watcher.get(key)[0] if self.watcher.synced else None
        uid = _uid(pod) if pod is not None else None
        if uid and uid != handle.get("uid"):  # adopted, or re-created: remember this pod
            return dataclasses.replace(obs, handle={"uid": uid})
        return obs

    # -- signalling -----------------------------------------------------------------------
    def request_suspend(self, key: RankKey, handle: dict[str, Any]) -> None:
        name = handle.get("pod") or names.pod_name(self.name_prefix, key)
        patch = {"metadata": {"annotations": {names.SUSPEND_ANNOTATION: "1"}}}
        try:
            self.kube.patch_pod(self.namespace, name, patch)
        except NotFound:
            self.log.info("%s: pod %s is gone; no suspend to send", key, name)

    def terminate(self, key: RankKey, handle: dict[str, Any], *, force: bool = False) -> None:
        """Stop the rank's container but keep its pod (and log) for the sweep.

        Politely: lower ``spec.activeDeadlineSeconds`` to the time it has run so far, so the
        kubelet stops the pod (SIGTERM, ``terminationGracePeriodSeconds``, SIGKILL) and
        leaves it Failed with reason DeadlineExceeded; the sweep archives its log and
        deletes it once the rank is terminal. A pod that never started is deleted at once.
        Forced: delete the pod with a grace of 1 s, unless its container has ended already.
        """
        name = handle.get("pod") or names.pod_name(self.name_prefix, key)
        pod = self.watcher.get(key)[0] if self.watcher.synced else None
        status = (pod or {}).get("status") or {}
        if pod is not None and status.get("phase") in ("Succeeded", "Failed"):
            return  # nothing runs any more
        started = parse_time(status.get("startTime"))
        deleting = pod is not None and (pod.get("metadata") or {}).get("deletionTimestamp")
        try:
            if force or started is None or deleting:
                self.kube.delete_pod(self.namespace, name, FORCE_GRACE_SECONDS if force else None)
                return
            deadline = max(1, math.ceil(self.clock() - started) + 1)
            current = (pod.get("spec") or {}).get("activeDeadlineSeconds")
            if current is None or deadline < current:
                self.kube.patch_pod(
                    self.namespace, name, {"spec": {"activeDeadlineSeconds": deadline}}
                )
        except NotFound:
            pass
        except KubeError as exc:  # e.g. the deadline could not be patched: delete instead
            self.log.warning("%s: cannot stop pod %s gently (%s); deleting it", key, name, exc)
            with contextlib.suppress(NotFound):
                self.kube.delete_pod(self.namespace, name, None)

    # -- logs -----------------------------------------------------------------------------
    def read_log(self, key: RankKey, offset: int = 0, max_bytes: int = 1 << 20) -> LogChunk:
        if self.data_dir:
            folder = logs.archive_dir(self.data_dir, key)
            if logs.has_archive(folder):
                return logs.read_archive(folder, offset, max_bytes)
        name = names.pod_name(self.name_prefix, key)
        limit = offset + max_bytes
        try:
            raw = self.kube.read_pod_log(self.namespace, name, names.CONTAINER_NAME, limit)
        except NotFound:
            return LogChunk(lines=[], next_offset=offset, eof=True)
        except KubeError as exc:
            if exc.status != 400:  # 400: the container has not started yet
                raise
            return LogChunk(lines=[], next_offset=offset, eof=True)
        return logs.chunk_from_raw(raw, offset, max_bytes, complete=len(raw) < limit)

    # -- housekeeping ---------------------------------------------------------------------
    def sweep(self) -> SweepPlan:
        """Delete orphan pods, finished pods (log archived first), stuck pods, idle services."""
        if self.rank_states is None:
            self.log.debug("no rank states from a database: cannot tell orphans; sweep skipped")
            return SweepPlan()
        if not self._ensure_watch():
            return SweepPlan()
        pods = self.watcher.pods()
        services = self.kube.list_services(self.namespace, names.instance_selector(self.instance))
        chain_ids = {k.chain_id for k in pods}
        for svc in services:
            job = names.job_from_labels(svc["metadata"].get("labels"))
            if job is not None:
                chain_ids.add(job[0])
        states = self.rank_states(chain_ids)
        plan = plan_sweep(
            pods, services, states, now=self.clock(), force_after=self.force_delete_after_seconds
        )
        for key in plan.delete_finished:
            self._archive(key)
            self._delete(key, None, "its rank has ended")
        for key in plan.delete_orphans:
            self._delete(key, None, "no rank of the database knows it")
        for key in plan.force_delete:
            self._delete(key, 0, "stuck in deletion (node lost?); forcing")
        for name in plan.delete_services:
            with contextlib.suppress(NotFound):
                self.kube.delete_service(self.namespace, name)
        return plan

    def _delete(self, key: RankKey, grace: int | None, why: str) -> None:
        name = names.pod_name(self.name_prefix, key)
        self.log.info("deleting pod %s (%s): %s", name, key, why)
        with contextlib.suppress(NotFound):
            self.kube.delete_pod(self.namespace, name, grace)

    def _archive(self, key: RankKey) -> None:
        if not (self.archive_logs and self.data_dir):
            return
        folder = logs.archive_dir(self.data_dir, key)
        if logs.has_archive(folder):
            return
        name = names.pod_name(self.name_prefix, key)
        try:
            raw = self.kube.read_pod_log(self.namespace, name, names.CONTAINER_NAME, None)
        except KubeError as exc:
            self.log.warning("cannot archive the log of %s: %s", name, exc)
            return
        logs.write_archive(folder, raw)


def node_spec(node: dict[str, Any], group_label: str, gpu_resource: str) -> NodeSpec | None:
    """A labelled node as the scheduler sees it; None when not Ready or cordoned."""
    meta = node.get("metadata") or {}
    group = (meta.get("labels") or {}).get(group_label)
    if not group or (node.get("spec") or {}).get("unschedulable"):
        return None
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True"
        for c in (node.get("status") or {}).get("conditions") or []
    )
    if not ready:
        return None
    alloc = (node.get("status") or {}).get("allocatable") or {}
    count = _quantity(alloc.get(gpu_resource))
    if count:
        ids = tuple(str(i) for i in range(count))
    else:  # a MIG node: one id per slice of each MIG resource
        ids = tuple(
            f"{res.split('/', 1)[1]}-{i}"
            for res in sorted(alloc)
            if res.startswith("nvidia.com/mig-")
            for i in range(_quantity(alloc[res]))
        )
    return NodeSpec(name=meta["name"], group=group, gpu_ids=ids)


def _quantity(value: Any) -> int:
    """A whole-number resource quantity as Kubernetes writes it ("8", "1k"); 0 when the
    value is missing or not a quantity (such a node offers no GPUs rather than failing
    discovery). Parsed by the kubernetes client's own helper."""
    try:
        return max(0, int(parse_quantity(value or "0")))
    except (ValueError, TypeError):
        return 0


def _uid(pod: dict[str, Any]) -> str | None:
    return (pod.get("metadata") or {}).get("uid")
