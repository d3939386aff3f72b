"""The pod watch: list + watch with resourceVersion, resume after a disconnect, list again
after 410 Gone, tombstones for pods that vanished, all against a fake API replaying events."""

from __future__ import annotations

import copy

import pytest

from scheduler.backends.kubernetes import names
from scheduler.backends.kubernetes.client import Unavailable
from scheduler.backends.kubernetes.watch import PodWatcher
from scheduler.backends.types import RankKey
from tests.k8s_fixtures.fakekube import FakeKube, load_sequence

SELECTOR = names.instance_selector("hai")


class Clock:
    def __init__(self, t: float = 1_741_082_400.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def recorded(sequence: str, step: int, name: str | None = None, rank: int | None = None):
    pod = copy.deepcopy(load_sequence(sequence)["events"][step]["object"])
    pod["metadata"].pop("resourceVersion", None)
    if name:
        pod["metadata"]["name"] = name
        pod["metadata"]["uid"] = name + "-uid"
    if rank is not None:
        pod["metadata"]["labels"][names.RANK_LABEL] = str(rank)
    return pod


@pytest.fixture
def setup():
    clock = Clock()
    kube = FakeKube(clock)
    watcher = PodWatcher(kube, "hai-tasks", SELECTOR, clock=clock, resync_seconds=600)
    return clock, kube, watcher


def test_list_then_watch_follows_events(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("oomkilled", 0, "hai-7-0-0", 0))
    stranger = recorded("oomkilled", 0, "other", 1)
    stranger["metadata"]["labels"] = {"app": "not-ours"}
    kube.add_pod(stranger)
    w.sync_once()
    assert w.synced and w.lists == 1
    assert set(w.pods()) == {RankKey(7, 0, 0)}
    listed_rv = w.resource_version
    kube.play("hai-7-0-0", "oomkilled", 1)
    kube.play("hai-7-0-0", "oomkilled", 2)
    w.sync_once()
    assert w.lists == 1, "no list while the watch works"
    assert kube.calls_of("watch_pods")[-1] == ("watch_pods", listed_rv)
    pod, tomb = w.get(RankKey(7, 0, 0))
    assert pod["status"]["phase"] == "Failed" and tomb is None
    assert w.resource_version == str(kube.rv)


def test_disconnect_resumes_from_the_last_resource_version(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("evicted", 0, "hai-7-0-0", 0))
    w.sync_once()
    kube.play("hai-7-0-0", "evicted", 1)
    kube.play("hai-7-0-0", "evicted", 2)
    kube.watch_faults.append(("disconnect", 1))
    with pytest.raises(Unavailable):
        w.sync_once()
    after_one = w.resource_version
    assert w.get(RankKey(7, 0, 0))[0]["status"]["phase"] == "Running"  # only event 1 arrived
    w.sync_once()
    assert kube.calls_of("watch_pods")[-1] == ("watch_pods", after_one)
    assert w.lists == 1
    assert w.get(RankKey(7, 0, 0))[0]["status"]["reason"] == "Evicted"


def test_410_gone_lists_again_and_vanished_pods_become_tombstones(setup):
    clock, kube, w = setup
    kube.add_pod(recorded("node_lost", 0, "hai-7-0-0", 0))
    kube.add_pod(recorded("node_lost", 0, "hai-7-0-1", 1))
    w.sync_once()
    # while the watch is away, one pod is deleted and the history is compacted
    kube.remove_pod("hai-7-0-1")
    kube.play("hai-7-0-0", "node_lost", 1)
    kube.compact()
    clock.t += 5
    w.sync_once()  # the watch answers 410: forget the version
    assert w.resource_version is None
    w.sync_once()  # list again
    assert w.lists == 2
    pod, _ = w.get(RankKey(7, 0, 0))
    assert pod["status"]["conditions"][2]["reason"] == "NodeNotReady"
    gone, tomb = w.get(RankKey(7, 0, 1))
    assert gone is None and tomb is not None
    assert "disappeared" in tomb.why and tomb.last["metadata"]["name"] == "hai-7-0-1"


def test_scripted_410_on_a_fresh_version(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("suspend_acked", 0, "hai-7-0-0", 0))
    w.sync_once()
    kube.watch_faults.append(("gone", 0))
    w.sync_once()
    w.sync_once()
    assert w.lists == 2
    assert [c[0] for c in kube.calls] == [
        "list_pods",
        "watch_pods",
        "watch_pods",
        "list_pods",
        "watch_pods",
    ]


def test_deleted_event_keeps_the_last_state(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("deleted_while_running", 0, "hai-7-0-0", 0))
    w.sync_once()
    kube.play("hai-7-0-0", "deleted_while_running", 1)
    kube.play("hai-7-0-0", "deleted_while_running", 2)  # ended while deleting: removed
    w.sync_once()
    pod, tomb = w.get(RankKey(7, 0, 0))
    assert pod is None
    assert tomb.why == "the pod was deleted"
    term = tomb.last["status"]["containerStatuses"][0]["state"]["terminated"]
    assert term["exitCode"] == 143


def test_a_new_pod_under_the_same_key_drops_the_old_tombstone(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("oomkilled", 2, "hai-7-0-0", 0))
    w.sync_once()
    kube.remove_pod("hai-7-0-0")
    w.sync_once()
    assert w.get(RankKey(7, 0, 0))[1] is not None
    kube.add_pod(recorded("oomkilled", 0, "hai-7-0-0", 0) | {})
    kube.pods["hai-7-0-0"]["metadata"]["uid"] = "new-uid"
    kube.play("hai-7-0-0", "oomkilled", 1)
    w.sync_once()
    pod, tomb = w.get(RankKey(7, 0, 0))
    assert pod is not None and tomb is None


def test_periodic_resync(setup):
    clock, _kube, w = setup
    w.sync_once()
    clock.t += 601
    w.sync_once()
    assert w.lists == 2


def test_watch_thread_syncs_in_the_background(setup):
    _clock, kube, w = setup
    kube.add_pod(recorded("oomkilled", 1, "hai-7-0-0", 0))
    w.start()
    try:
        assert w.wait_synced(5)
        assert RankKey(7, 0, 0) in w.pods()
    finally:
        w.stop()
