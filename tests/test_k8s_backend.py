"""The Kubernetes backend with the real scheduling loop on SQLite, against a fake API.

The recorded pod states of tests/k8s_fixtures are played onto the pods the backend
created; each test asserts the chain/job/rank states the loop reaches and the API calls
the backend made (create pod/service, patch the suspend annotation, delete pods).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from traitlets.config import Config

from scheduler.backends.base import RankKey
from scheduler.backends.kubernetes import names
from scheduler.backends.kubernetes.backend import KubernetesBackend, node_spec
from scheduler.backends.kubernetes.mapping import parse_time
from scheduler.model.enums import ChainState, Priority, RankState, StopCode
from scheduler.model.orm import Chain
from scheduler.service.app import SchedulerApp
from tests.k8s_fixtures.fakekube import FakeKube, make_node
from tests.k8s_fixtures.support import validate
from tests.sched_harness import chain, submit

T0 = 1_741_082_400.0  # 2025-03-04T10:00:00Z


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> float:
        return self.t


def make_k8s_app(
    tmp_path: Path,
    clock: Clock,
    kube: FakeKube | None = None,
    nodes: tuple[str, ...] = ("gpu-0", "gpu-1"),
    **knobs,
) -> tuple[SchedulerApp, FakeKube]:
    if kube is None:
        kube = FakeKube(clock)
        kube.nodes = [make_node(n, "gpu") for n in nodes] + [
            make_node("cordoned", "gpu", ready=False)
        ]
    cfg = Config()
    cfg.SchedulerApp.db_url = f"sqlite:///{tmp_path / 'hai.sqlite'}"
    cfg.SchedulerApp.data_dir = str(tmp_path / "data")
    cfg.SchedulerApp.backend_class = KubernetesBackend
    cfg.SchedulerApp.stop_grace_seconds = 10.0
    cfg.SchedulerApp.suspend_grace_seconds = 120.0
    cfg.KubernetesBackend.api = kube
    cfg.KubernetesBackend.namespace = "hai-tasks"
    cfg.KubernetesBackend.watch_thread = False
    cfg.KubernetesBackend.storage_mounts = [
        {"name": "home", "pvc": "hai-homes", "sub_path": "{user}", "mount_path": "/home/{user}"}
    ]
    for k, v in knobs.items():
        setattr(cfg.SchedulerApp, k, v)
    app = SchedulerApp(config=cfg)
    app.init_core()
    app.loop.clock = clock
    app.backend.clock = clock
    return app, kube


def step(app: SchedulerApp) -> None:
    """Deliver what the cluster did, then run one loop cycle."""
    app.backend.watcher.sync_once()
    app.loop.cycle()


def ranks(app, cid, job=-1):
    return [r.rank_state for r in chain(app, cid).jobs[job].ranks]


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def k8s(tmp_path, clock):
    app, kube = make_k8s_app(tmp_path, clock)
    yield app, kube
    app.backend.close()


def test_nodes_come_from_labelled_ready_nodes(k8s):
    app, _kube = k8s
    specs = {n.name: n for n in app.backend.discover_nodes()}
    assert set(specs) == {"gpu-0", "gpu-1"}  # the NotReady node is left out
    assert specs["gpu-0"].group == "gpu" and specs["gpu-0"].gpus == 8
    mig = make_node("jup-0", "jupyter", gpus=0)
    mig["status"]["allocatable"]["nvidia.com/mig-1g.10gb"] = "7"
    spec = node_spec(mig, "hai_mars_group", "nvidia.com/gpu")
    assert spec.gpus == 7 and spec.gpu_ids[0] == "mig-1g.10gb-0"


@pytest.mark.parametrize(
    ("allocatable", "gpus"), [("8", 8), ("1k", 1000), ("2", 2), ("junk", 0), ("-3", 0)]
)
def test_gpu_quantities_are_read_as_kubernetes_writes_them(allocatable, gpus):
    node = make_node("gpu-9", "gpu", gpus=0)
    node["status"]["allocatable"]["nvidia.com/gpu"] = allocatable
    spec = node_spec(node, "hai_mars_group", "nvidia.com/gpu")
    assert spec.gpus == gpus


def test_two_rank_chain_runs_to_success_and_is_swept(k8s, tmp_path, clock):
    app, kube = k8s
    cid = submit(
        app,
        "alice",
        name="resnet",
        entrypoint="/home/alice/train.py",
        node_count=2,
        workspace=tmp_path / "ws",
    )
    step(app)
    # one service for the job, one pod per rank, each valid against the schema
    assert kube.calls_of("create_service") == [("create_service", f"hai-{cid}-0")] * 2
    assert sorted(c[1] for c in kube.calls_of("create_pod")) == [f"hai-{cid}-0-0", f"hai-{cid}-0-1"]
    for pod in kube.pods.values():
        validate(pod | {"status": {}})
    validate(kube.services[f"hai-{cid}-0"])
    nodes = {
        p["spec"]["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
            "nodeSelectorTerms"
        ][0]["matchFields"][0]["values"][0]
        for p in kube.pods.values()
    }
    assert nodes == {"gpu-0", "gpu-1"}
    assert ranks(app, cid) == [RankState.CREATED] * 2

    p0, p1 = f"hai-{cid}-0-0", f"hai-{cid}-0-1"
    seq = "unschedulable_then_succeeded"
    kube.play(p0, seq, 1)  # unschedulable
    step(app)
    assert ranks(app, cid) == [RankState.UNSCHEDULABLE, RankState.CREATED]
    kube.play(p0, seq, 2)  # building
    kube.play(p1, seq, 2)
    step(app)
    assert ranks(app, cid) == [RankState.BUILDING] * 2
    kube.play(p0, seq, 3)
    kube.play(p1, seq, 3)
    step(app)
    assert ranks(app, cid) == [RankState.RUNNING] * 2
    kube.logs[p0] = b"2025-03-04T10:02:41.000000001Z epoch 1\n2025-03-04T10:02:42.5Z epoch 2\n"

    kube.play(p0, seq, 4)  # rank 0 succeeded
    step(app)
    assert ranks(app, cid) == [RankState.SUCCEEDED, RankState.SUCCEEDED_TERMINATING]
    assert not kube.calls_of("delete_pod")
    clock.t += 11  # rank 1 had stop_grace_seconds to finish by itself
    step(app)
    # stopped through its active deadline (10 s since its start + 1): the pod stays
    assert kube.calls_of("patch_pod") == [
        ("patch_pod", p1, json.dumps({"spec": {"activeDeadlineSeconds": 11}}))
    ]
    assert not kube.calls_of("delete_pod")
    kube.play(p1, "deadline_exceeded", 2)  # SIGTERM → 143, phase Failed, DeadlineExceeded
    step(app)
    c = chain(app, cid)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.SUCCEEDED
    assert [r.exit_code for r in c.jobs[0].ranks] == [0, 143]

    # logs: live from the API, then from the archive once the sweep removed the pod
    live = app.backend.read_log(RankKey(cid, 0, 0))
    assert [ln.text for ln in live.lines] == ["epoch 1", "epoch 2"]
    assert live.lines[0].time == "2025-03-04T10:02:41.000000001Z"
    first = app.backend.read_log(RankKey(cid, 0, 0), 0, 40)
    assert [ln.text for ln in first.lines] == ["epoch 1"] and not first.eof
    plan = app.backend.sweep()
    assert plan.delete_finished == [RankKey(cid, 0, 0), RankKey(cid, 0, 1)]
    app.backend.watcher.sync_once()
    assert p0 not in kube.pods and p1 not in kube.pods
    rest = app.backend.read_log(RankKey(cid, 0, 0), first.next_offset)
    assert [ln.text for ln in rest.lines] == ["epoch 2"] and rest.eof
    plan = app.backend.sweep()
    assert plan.delete_services == [f"hai-{cid}-0"] and not kube.services


def test_preemption_suspend_ack_and_resume(tmp_path, clock):
    app, kube = make_k8s_app(tmp_path, clock, nodes=("gpu-0",))
    low = submit(
        app,
        "alice",
        name="low",
        entrypoint="train.py",
        workspace=tmp_path / "a",
        priority=Priority.LOW,
    )
    step(app)
    pod = f"hai-{low}-0-0"
    kube.play(pod, "suspend_acked", 0)  # running
    step(app)
    assert ranks(app, low) == [RankState.RUNNING]
    clock.t += 60
    high = submit(
        app,
        "bob",
        name="high",
        entrypoint="train.py",
        workspace=tmp_path / "b",
        priority=Priority.HIGH,
    )
    step(app)
    # the suspend request reaches the pod as its annotation
    assert kube.calls_of("patch_pod") == [
        (
            "patch_pod",
            pod,
            json.dumps({"metadata": {"annotations": {names.SUSPEND_ANNOTATION: "1"}}}),
        )
    ]
    assert kube.pods[pod]["metadata"]["annotations"][names.SUSPEND_ANNOTATION] == "1"
    assert chain(app, high).state == ChainState.WAITING_INIT
    step(app)
    assert len(kube.calls_of("patch_pod")) == 1, "sent once"
    # the code checkpoints, acknowledges and exits 0
    kube.play(pod, "suspend_acked", 2)
    step(app)
    c = chain(app, low)
    assert c.state == ChainState.SUSPENDED and c.suspend_count == 1
    assert c.whole_life_state == 1200
    assert c.jobs[0].stop_code == StopCode.PREEMPTED
    assert ranks(app, low, 0) == [RankState.STOPPED]
    step(app)  # the node is free: the high chain starts
    assert chain(app, high).state == ChainState.RUNNING
    hpod = f"hai-{high}-0-0"
    assert hpod in kube.pods
    kube.play(hpod, "unschedulable_then_succeeded", 4)
    step(app)
    assert chain(app, high).stop_code == StopCode.SUCCEEDED
    step(app)  # the low chain resumes as its next job, with its state
    c = chain(app, low)
    assert c.state == ChainState.RUNNING and len(c.jobs) == 2
    resumed = kube.pods[f"hai-{low}-1-0"]
    env = {e["name"]: e["value"] for e in resumed["spec"]["containers"][0]["env"]}
    assert env["HAI_IS_RESUME"] == "1" and env["HAI_WHOLE_LIFE_STATE"] == "1200"
    assert env["HAI_SUSPEND_COUNT"] == "1"
    assert kube.services.get(f"hai-{low}-1")


def test_suspend_without_ack_is_stopped_after_the_grace(k8s, tmp_path, clock):
    app, kube = k8s
    cid = submit(app, "alice", name="stubborn", entrypoint="t.py", workspace=tmp_path / "w")
    step(app)
    pod = f"hai-{cid}-0-0"
    kube.play(pod, "deleted_while_running", 0)
    step(app)
    with app.session_factory.begin() as s:  # an admin suspends it (as the API would)
        c = s.get(Chain, cid)
        c.suspend_requested_at = dt.datetime.fromtimestamp(clock.t, dt.UTC)
        c.suspend_code = StopCode.SUSPENDED_BY_ADMIN.value
        c.held = True
    step(app)
    assert [c[1] for c in kube.calls_of("patch_pod")] == [pod]
    clock.t += 121
    step(app)  # grace over: stopped_terminating, the kubelet is told to stop it
    assert ranks(app, cid) == [RankState.STOPPED_TERMINATING]
    assert json.loads(kube.calls_of("patch_pod")[-1][2]) == {"spec": {"activeDeadlineSeconds": 121}}
    clock.t += 11  # still running after stop_grace_seconds: forced
    step(app)
    assert kube.calls_of("delete_pod") == [("delete_pod", pod, "1")]
    kube.remove_pod(pod)  # the kubelet confirms
    step(app)
    c = chain(app, cid)
    assert c.state == ChainState.SUSPENDED
    assert ranks(app, cid, 0) == [RankState.STOPPED]
    assert c.jobs[0].stop_code == StopCode.SUSPENDED_BY_ADMIN


@pytest.mark.parametrize(
    ("sequence", "step_no", "exit_code", "reason"),
    [
        ("oomkilled", 2, 137, "OOMKilled"),
        ("evicted", 2, 137, "Evicted: The node was low on resource: ephemeral-storage"),
    ],
)
def test_a_killed_rank_fails_the_job_and_stops_the_other(
    k8s, tmp_path, clock, sequence, step_no, exit_code, reason
):
    app, kube = k8s
    cid = submit(app, "alice", name="big", entrypoint="t.py", node_count=2, workspace=tmp_path)
    step(app)
    p0, p1 = f"hai-{cid}-0-0", f"hai-{cid}-0-1"
    kube.play(p0, sequence, 1)
    kube.play(p1, "oomkilled", 1)
    step(app)
    assert ranks(app, cid) == [RankState.RUNNING] * 2
    kube.play(p0, sequence, step_no)
    step(app)
    c = chain(app, cid)
    r0, r1 = c.jobs[0].ranks
    assert (r0.rank_state, r0.exit_code) == (RankState.FAILED, exit_code)
    assert r0.reason.startswith(reason)
    assert r1.rank_state == RankState.FAILED_TERMINATING
    assert kube.calls_of("patch_pod")[-1][1] == p1
    kube.play(p1, "deadline_exceeded", 2)
    step(app)
    c = chain(app, cid)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.FAILED
    assert f"exited with code {exit_code}" in c.reason


def test_node_lost_fails_the_chain_as_lost_and_the_stuck_pod_is_forced(k8s, tmp_path, clock):
    app, kube = k8s
    cid = submit(app, "alice", name="x", entrypoint="t.py", workspace=tmp_path)
    step(app)
    pod = f"hai-{cid}-0-0"
    kube.play(pod, "node_lost", 0)
    step(app)
    kube.play(pod, "node_lost", 1)  # NotReady: still running as far as we know
    step(app)
    assert ranks(app, cid) == [RankState.RUNNING]
    kube.play(pod, "node_lost", 2)  # the taint manager deletes it; the kubelet is gone
    step(app)
    c = chain(app, cid)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.LOST
    assert "lost" in c.jobs[0].ranks[0].reason
    # the pod hangs in deletion; the sweep forces it once its deadline is long past
    assert app.backend.sweep().empty
    clock.t = parse_time(kube.pods[pod]["metadata"]["deletionTimestamp"]) + 301
    plan = app.backend.sweep()
    assert plan.force_delete == [RankKey(cid, 0, 0)]
    assert kube.calls_of("delete_pod")[-1] == ("delete_pod", pod, "0")
    assert pod not in kube.pods


def test_image_pull_failure_is_init_failed_after_the_build_timeout(k8s, tmp_path, clock):
    app, kube = k8s
    cid = submit(app, "alice", name="typo", entrypoint="t.py", workspace=tmp_path)
    step(app)
    pod = f"hai-{cid}-0-0"
    created = kube.pods[pod]["metadata"]["creationTimestamp"]
    for i in (0, 1, 2):
        kube.play(pod, "image_pull_backoff", i)
    step(app)
    assert ranks(app, cid) == [RankState.BUILDING]
    assert created == "2025-03-04T10:00:00Z"
    clock.t += 901
    step(app)
    c = chain(app, cid)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.INIT_FAILED
    assert "ImagePullBackOff" in c.reason


def test_missing_entrypoint_is_init_failed(k8s, tmp_path):
    app, kube = k8s
    cid = submit(app, "alice", name="nofile", entrypoint="t.py", workspace=tmp_path)
    step(app)
    kube.play(f"hai-{cid}-0-0", "entrypoint_missing", 0)
    step(app)
    c = chain(app, cid)
    assert c.stop_code == StopCode.INIT_FAILED and "cannot start" in c.reason


def test_restart_adopts_pods_starts_unstarted_ranks_and_deletes_orphans(tmp_path, clock):
    app1, kube = make_k8s_app(tmp_path, clock)
    a = submit(app1, "alice", name="a", entrypoint="t.py", workspace=tmp_path / "a")
    step(app1)
    kube.play(f"hai-{a}-0-0", "oomkilled", 1)
    step(app1)
    assert ranks(app1, a) == [RankState.RUNNING]

    # the scheduler dies right after creating chain b's pod, before recording that
    b = submit(app1, "bob", name="b", entrypoint="t.py", workspace=tmp_path / "b")
    real_start = app1.backend.start_rank

    def start_then_die(launch):
        real_start(launch)
        raise KeyboardInterrupt("scheduler killed")

    app1.backend.start_rank = start_then_die
    with pytest.raises(KeyboardInterrupt):
        step(app1)
    app1.backend.close()
    assert chain(app1, b).jobs[0].ranks[0].launched is False
    # meanwhile: a pod nobody knows (its chain was deleted from the database)
    orphan = json.loads(json.dumps(kube.pods[f"hai-{a}-0-0"]))
    orphan["metadata"]["name"] = "hai-999-0-0"
    orphan["metadata"]["labels"][names.CHAIN_LABEL] = "999"
    for k in ("uid", "resourceVersion", "creationTimestamp"):
        orphan["metadata"].pop(k)
    kube.add_pod(orphan)
    kube.compact()  # the old watch position is useless now
    creates = len(kube.calls_of("create_pod"))

    clock.t += 30
    app2, _ = make_k8s_app(tmp_path, clock, kube=kube)
    step(app2)
    assert len(kube.calls_of("create_pod")) == creates + 1  # b's rank, answered 409
    assert kube.calls_of("read_pod")[-1] == ("read_pod", f"hai-{b}-0-0")
    rb = chain(app2, b).jobs[0].ranks[0]
    hb = rb.handle
    assert (
        rb.launched and hb["adopted"] and hb["uid"] == kube.pods[f"hai-{b}-0-0"]["metadata"]["uid"]
    )
    assert ranks(app2, a) == [RankState.RUNNING]  # adopted from the list
    plan = app2.backend.sweep()
    assert plan.delete_orphans == [RankKey(999, 0, 0)]
    assert kube.calls_of("delete_pod") == [("delete_pod", "hai-999-0-0", "None")]
    assert kube.pods["hai-999-0-0"]["metadata"]["deletionTimestamp"]  # stopping, gently
    # a finishes after the restart: seen through the new watch
    kube.play(f"hai-{a}-0-0", "unschedulable_then_succeeded", 4)
    step(app2)
    assert chain(app2, a).stop_code == StopCode.SUCCEEDED
    app2.backend.close()


def test_a_pod_deleted_while_the_scheduler_was_down_is_lost(tmp_path, clock):
    app1, kube = make_k8s_app(tmp_path, clock)
    cid = submit(app1, "alice", name="a", entrypoint="t.py", workspace=tmp_path)
    step(app1)
    kube.play(f"hai-{cid}-0-0", "oomkilled", 1)
    step(app1)
    app1.backend.close()
    kube.remove_pod(f"hai-{cid}-0-0")  # e.g. kubectl delete while the scheduler restarts
    clock.t += 30
    app2, _ = make_k8s_app(tmp_path, clock, kube=kube)
    step(app2)
    c = chain(app2, cid)
    assert c.state == ChainState.FINISHED and c.stop_code == StopCode.LOST
    assert "no longer exists" in c.jobs[0].ranks[0].reason
    app2.backend.close()


def test_a_pod_not_yet_in_the_watch_is_not_lost(k8s, tmp_path, clock):
    app, kube = k8s
    app.backend.watcher.sync_once()  # listed before the pod exists
    cid = submit(app, "alice", name="a", entrypoint="t.py", workspace=tmp_path)
    app.loop.cycle()  # creates the pod
    kube.watch_faults.append(("disconnect", 0))  # and its ADDED event does not arrive
    with pytest.raises(Exception, match="connection reset"):
        app.backend.watcher.sync_once()
    app.loop.cycle()
    assert ranks(app, cid) == [RankState.CREATED]
    step(app)
    assert ranks(app, cid) == [RankState.CREATED]  # seen now, still Pending


def test_a_cpu_node_gets_no_gpu_request(tmp_path, clock):
    kube = FakeKube(clock)
    kube.nodes = [make_node("cpu-0", "cpu", gpus=0)]
    app, _ = make_k8s_app(tmp_path, clock, kube=kube)
    cid = submit(app, "alice", name="etl", entrypoint="etl.sh", group="cpu", workspace=tmp_path)
    step(app)
    pod = kube.pods[f"hai-{cid}-0-0"]
    assert "resources" not in pod["spec"]["containers"][0]
    assert pod["spec"]["containers"][0]["command"][-2:] == ["bash", "etl.sh"]
    validate(pod | {"status": {}})
