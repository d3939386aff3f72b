"""The backend's view of its pods: list + watch with resourceVersion, kept in memory.

:class:`PodWatcher` lists the instance's pods once (``synced_at`` records when that list
was asked for), then follows a watch from the list's resourceVersion. A watch that ends
(server timeout) or breaks (disconnect) is resumed from the last resourceVersion seen; a
``410 Gone`` — the version is too old — makes it list again; a full list is also taken
every ``resync_seconds``, so the view is level-triggered, not a sum of events. A pod that
vanishes between two lists is remembered as a tombstone with its last version, exactly
like a pod whose DELETED event arrived.

The cache is keyed by :class:`RankKey` (from the pod's labels). ``poll_rank`` reads it and
never waits on the API. :meth:`PodWatcher.start` runs :meth:`sync_once` in a daemon thread;
tests call :meth:`sync_once` themselves to replay recorded streams deterministically.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scheduler.backends.kubernetes import names
from scheduler.backends.kubernetes.client import Gone, KubeApi, KubeError
from scheduler.backends.types import RankKey

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Tombstone:
    """A pod that no longer exists: its last version, when that was noticed, and how."""

    last: dict[str, Any]
    at: float
    why: str


class PodWatcher:
    """In-memory pods of one scheduler instance, fed by list + watch."""

    def __init__(
        self,
        api: KubeApi,
        namespace: str,
        selector: str,
        *,
        clock: Callable[[], float] = time.time,
        watch_timeout: int = 300,
        resync_seconds: float = 900.0,
        tombstone_ttl: float = 3600.0,
        on_synced: Callable[[], None] | None = None,  # the thread calls it after each stream
    ) -> None:
        self.api = api
        self.namespace = namespace
        self.selector = selector
        self.clock = clock
        self.watch_timeout = watch_timeout
        self.resync_seconds = resync_seconds
        self.tombstone_ttl = tombstone_ttl
        self.on_synced = on_synced
        self._lock = threading.Lock()
        self._pods: dict[RankKey, dict[str, Any]] = {}
        self._tombstones: dict[RankKey, Tombstone] = {}
        self.resource_version: str | None = None
        self.synced_at: float | None = None  # when the last complete list was asked for
        self.lists = 0  # how many lists were taken (for tests and metrics)
        self.last_error: str = ""
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- reading --------------------------------------------------------------------------
    def get(self, key: RankKey) -> tuple[dict[str, Any] | None, Tombstone | None]:
        with self._lock:
            return self._pods.get(key), self._tombstones.get(key)

    def pods(self) -> dict[RankKey, dict[str, Any]]:
        with self._lock:
            return dict(self._pods)

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    # -- feeding --------------------------------------------------------------------------
    def relist(self) -> None:
        """Replace the view with a fresh list; pods that vanished become tombstones."""
        started = self.clock()
        items, rv = self.api.list_pods(self.namespace, self.selector)
        fresh: dict[RankKey, dict[str, Any]] = {}
        for pod in items:
            key = names.key_from_labels((pod.get("metadata") or {}).get("labels"))
            if key is not None:
                fresh[key] = pod
        with self._lock:
            for key, old in self._pods.items():
                if key not in fresh:
                    self._tombstones[key] = Tombstone(
                        old, started, "the pod disappeared while the watch was not connected"
                    )
            for key, pod in fresh.items():
                self._forget_tombstone_of_other(key, pod)
            self._pods = fresh
            self.resource_version = rv
            self.synced_at = started
            self.lists += 1
            self._prune(started)
        self._synced.set()

    def _forget_tombstone_of_other(self, key: RankKey, pod: dict[str, Any]) -> None:
        tomb = self._tombstones.get(key)
        if tomb is not None and _uid(tomb.last) != _uid(pod):
            del self._tombstones[key]

    def _prune(self, now: float) -> None:
        for key in [k for k, t in self._tombstones.items() if now - t.at > self.tombstone_ttl]:
            del self._tombstones[key]

    def apply(self, kind: str, obj: dict[str, Any]) -> None:
        """One watch event."""
        meta = obj.get("metadata") or {}
        if kind == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise Gone(str(obj.get("message", "resource version too old")), 410)
            raise KubeError(f"watch error: {obj.get('message', obj)}", code)
        rv = meta.get("resourceVersion")
        if kind != "BOOKMARK":
            key = names.key_from_labels(meta.get("labels"))
            if key is not None:
                with self._lock:
                    if kind == "DELETED":
                        self._pods.pop(key, None)
                        self._tombstones[key] = Tombstone(obj, self.clock(), "the pod was deleted")
                    else:
                        self._forget_tombstone_of_other(key, obj)
                        self._pods[key] = obj
        if rv:
            self.resource_version = rv

    def sync_once(self) -> None:
        """List if needed, then follow one watch stream until it ends.

        A 410 Gone forgets the resourceVersion (the next call lists again); any other
        failure leaves it, so the next call resumes the watch where it stopped.
        """
        due = self.synced_at is None or self.clock() - self.synced_at >= self.resync_seconds
        if self.resource_version is None or due:
            self.relist()
        assert self.resource_version is not None
        try:
            for kind, obj in self.api.watch_pods(
                self.namespace, self.selector, self.resource_version, self.watch_timeout
            ):
                self.apply(kind, obj)
        except Gone:
            log.info("pod watch expired (410 Gone); listing again")
            self.resource_version = None
        self.last_error = ""

    # -- the thread -----------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="hai-pod-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def _run(self) -> None:
        backoff = 1.0
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sync_once()
                backoff = 1.0
                if time.monotonic() - started < 1.0:  # a server that ends watches at once
                    self._stop.wait(1.0)
                if self.on_synced is not None:
                    self.on_synced()
            except Exception as exc:
                self.last_error = str(exc)
                log.warning("pod watch failed (%s); retrying in %.0f s", exc, backoff)
                self._stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)


def _uid(pod: dict[str, Any]) -> str | None:
    return (pod.get("metadata") or {}).get("uid")
