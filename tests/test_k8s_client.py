"""OfficialKubeApi — the official ``kubernetes`` client — over real HTTP against a fake API
server: lists, streamed watches and 410, Status errors, patches, deletes, logs, nodes; and
the backend's background watch and sweep threads driven through it."""

from __future__ import annotations

import time

import pytest

from scheduler.backends.kubernetes import names
from scheduler.backends.kubernetes.client import Conflict, Gone, NotFound, Unavailable
from scheduler.backends.types import RankKey, RankLaunch
from tests.k8s_fixtures.fakekube import FakeKube, load_sequence, make_node
from tests.k8s_fixtures.fakeserver import FakeApiServer
from tests.k8s_fixtures.support import need

NS = "hai-tasks"
SELECTOR = names.instance_selector("hai")


@pytest.fixture
def server(tmp_path):
    need("kubernetes")
    kube = FakeKube(time.time)
    kube.nodes = [make_node("gpu-0", "gpu"), make_node("other", "gpu", ready=False)]
    with FakeApiServer(kube) as srv:
        cfg = tmp_path / "kubeconfig"
        cfg.write_text(srv.kubeconfig())
        srv.kubeconfig_path = str(cfg)
        yield srv


@pytest.fixture
def api(server):
    from scheduler.backends.kubernetes.client import OfficialKubeApi

    return OfficialKubeApi(kubeconfig=server.kubeconfig_path, request_timeout=10)


def pod_body(name="hai-3-0-0", rank=0):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": names.rank_labels("hai", RankKey(3, 0, rank), "alice"),
            "annotations": {names.SUSPEND_ANNOTATION: "0"},
        },
        "spec": {"containers": [{"name": "rank", "image": "img:1"}], "nodeName": "gpu-0"},
    }


def test_pods_through_the_official_client(server, api):
    created = api.create_pod(NS, pod_body())
    assert created["metadata"]["name"] == "hai-3-0-0" and created["metadata"]["uid"]
    with pytest.raises(Conflict):
        api.create_pod(NS, pod_body())
    items, rv = api.list_pods(NS, SELECTOR)
    assert [p["metadata"]["name"] for p in items] == ["hai-3-0-0"] and rv
    assert server.requests[-1]["query"]["labelSelector"] == SELECTOR

    api.patch_pod(NS, "hai-3-0-0", {"metadata": {"annotations": {names.SUSPEND_ANNOTATION: "1"}}})
    patch = server.requests[-1]
    assert patch["method"] == "PATCH"
    assert patch["content_type"] in (
        "application/strategic-merge-patch+json",
        "application/merge-patch+json",
    )
    assert patch["body"] == {"metadata": {"annotations": {names.SUSPEND_ANNOTATION: "1"}}}
    assert api.read_pod(NS, "hai-3-0-0")["metadata"]["annotations"][names.SUSPEND_ANNOTATION] == "1"

    server.kube.logs["hai-3-0-0"] = b"2025-03-04T10:00:00.1Z hello\n2025-03-04T10:00:01.2Z more\n"
    assert api.read_pod_log(NS, "hai-3-0-0", "rank", 29) == b"2025-03-04T10:00:00.1Z hello\n"
    q = {k: v.lower() for k, v in server.requests[-1]["query"].items()}  # Go's ParseBool
    assert q == {"container": "rank", "timestamps": "true", "limitBytes": "29"}

    api.delete_pod(NS, "hai-3-0-0", 1)
    assert server.requests[-1]["query"] == {"gracePeriodSeconds": "1"}
    with pytest.raises(NotFound):
        api.read_pod(NS, "nope")


def test_watch_streams_events_and_410_is_gone(server, api):
    _, rv = api.list_pods(NS, SELECTOR)
    api.create_pod(NS, pod_body())
    api.patch_pod(NS, "hai-3-0-0", {"spec": {"activeDeadlineSeconds": 5}})
    events = list(api.watch_pods(NS, SELECTOR, rv, 1))
    kinds = [k for k, _ in events]
    assert kinds[:2] == ["ADDED", "MODIFIED"] and kinds[-1] == "BOOKMARK"
    assert events[1][1]["spec"]["activeDeadlineSeconds"] == 5
    watch = [r for r in server.requests if r["query"].get("watch", "").lower() == "true"][-1]
    assert watch["query"]["resourceVersion"] == rv
    assert watch["query"]["allowWatchBookmarks"].lower() == "true"
    server.kube.compact()
    with pytest.raises(Gone):
        list(api.watch_pods(NS, SELECTOR, rv, 1))


def test_services_nodes_and_an_unreachable_server(server, api, tmp_path):
    svc = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "hai-3-0", "labels": names.job_labels("hai", 3, 0)},
        "spec": {"clusterIP": "None", "selector": names.job_labels("hai", 3, 0)},
    }
    api.create_service(NS, svc)
    with pytest.raises(Conflict):
        api.create_service(NS, svc)
    assert [s["metadata"]["name"] for s in api.list_services(NS, SELECTOR)] == ["hai-3-0"]
    api.delete_service(NS, "hai-3-0")
    assert api.list_services(NS, SELECTOR) == []
    nodes = api.list_nodes("hai_mars_group")
    assert {n["metadata"]["name"] for n in nodes} == {"gpu-0", "other"}

    from scheduler.backends.kubernetes.client import OfficialKubeApi

    dead = tmp_path / "dead"
    dead.write_text(server.kubeconfig().replace(str(server.port), "9"))
    with pytest.raises(Unavailable):
        OfficialKubeApi(kubeconfig=str(dead), request_timeout=2).list_pods(NS, SELECTOR)


def test_backend_threads_follow_pods_over_http(server):
    from scheduler.backends.kubernetes.backend import KubernetesBackend

    backend = KubernetesBackend(
        kubeconfig=server.kubeconfig_path,
        namespace=NS,
        watch_thread=True,
        watch_timeout_seconds=1,
        sweep_seconds=0,
    )
    try:
        assert [n.name for n in backend.discover_nodes()] == ["gpu-0"]  # starts the watch
        launch = RankLaunch(
            key=RankKey(4, 0, 0),
            world_size=1,
            node="gpu-0",
            master_node="gpu-0",
            entrypoint="train.py",
            parameters=(),
            env={"MASTER_PORT": "29500"},
            workspace="/w",
            owner="alice",
            uid=100001,
            gid=100001,
        )
        handle = backend.start_rank(launch)
        assert handle["pod"] == "hai-4-0-0" and "hai-4-0" in server.kube.services
        running = load_sequence("oomkilled")["events"][1]["object"]
        server.kube.set_pod("hai-4-0-0", running)
        deadline = time.monotonic() + 10
        while backend.poll_rank(launch.key, handle).phase != "running":
            assert time.monotonic() < deadline, "the watch thread never delivered the pod"
            time.sleep(0.05)
        backend.request_suspend(launch.key, handle)
        patched = server.kube.pods["hai-4-0-0"]["metadata"]["annotations"]
        assert patched[names.SUSPEND_ANNOTATION] == "1"
        backend.terminate(launch.key, handle)
        deadline_patch = server.requests[-1]
        assert deadline_patch["method"] == "PATCH"
        seconds = server.kube.pods["hai-4-0-0"]["spec"]["activeDeadlineSeconds"]
        assert deadline_patch["body"] == {"spec": {"activeDeadlineSeconds": seconds}}
    finally:
        backend.close()
