"""Pod → rank state mapping, fed with the recorded pod event sequences of tests/k8s_fixtures."""

from __future__ import annotations

import json

import pytest

from scheduler.backends.kubernetes.mapping import (
    observe_missing,
    observe_pod,
    parse_time,
    to_observation,
)
from tests.k8s_fixtures.fakekube import HERE, load_sequence
from tests.k8s_fixtures.support import validate

SEQUENCES = sorted(p.stem for p in HERE.glob("*.json"))
BUILD_TIMEOUT = 900.0


def test_the_recorded_sequences_are_there():
    assert {
        "unschedulable_then_succeeded",
        "oomkilled",
        "evicted",
        "node_lost",
        "node_lost_legacy",
        "image_pull_backoff",
        "suspend_acked",
        "deleted_while_running",
        "admission_rejected",
        "entrypoint_missing",
        "deadline_exceeded",
    } <= set(SEQUENCES)


@pytest.mark.parametrize("name", SEQUENCES)
def test_recorded_pods_are_schema_valid(name):
    for event in load_sequence(name)["events"]:
        validate(event["object"])


@pytest.mark.parametrize("name", SEQUENCES)
def test_each_event_maps_to_the_expected_rank_state(name):
    last = None
    for i, event in enumerate(load_sequence(name)["events"]):
        now = parse_time(event["at"])
        if event["type"] == "DELETED":
            view = observe_missing(event["object"], "the pod was deleted", now=now)
        else:
            view = observe_pod(event["object"], now=now, build_timeout=BUILD_TIMEOUT)
        expect = event["expect"]
        where = f"{name} event {i} ({event['type']})"
        assert view.state == expect["state"], f"{where}: {view}"
        if "exit_code" in expect:
            assert view.exit_code == expect["exit_code"], where
        if "reason" in expect:
            assert view.reason == expect["reason"], where
        if "reason_contains" in expect:
            assert expect["reason_contains"] in view.reason, f"{where}: {view.reason!r}"
        for flag in ("init_failed", "suspend_acked", "whole_life_state"):
            if flag in expect:
                assert getattr(view, flag) == expect[flag], f"{where}: {flag}"
        last = view
    assert last is not None


def _obs(name, step, *, deleted=False):
    event = load_sequence(name)["events"][step]
    now = parse_time(event["at"])
    if deleted:
        return to_observation(observe_missing(event["object"], "the pod was deleted", now=now))
    return to_observation(observe_pod(event["object"], now=now, build_timeout=BUILD_TIMEOUT))


def test_observations_the_loop_receives():
    assert _obs("unschedulable_then_succeeded", 0).phase == "pending"
    unsched = _obs("unschedulable_then_succeeded", 1)
    assert unsched.phase == "unschedulable" and "nvidia.com/gpu" in unsched.reason
    assert _obs("unschedulable_then_succeeded", 2).phase == "building"
    assert _obs("unschedulable_then_succeeded", 3).phase == "running"
    done = _obs("unschedulable_then_succeeded", 4)
    assert (done.phase, done.exit_code, done.suspend_acked) == ("exited", 0, False)

    oom = _obs("oomkilled", 2)
    assert (oom.phase, oom.exit_code, oom.reason) == ("exited", 137, "OOMKilled")

    evicted = _obs("evicted", 2)
    assert evicted.phase == "exited" and evicted.exit_code == 137
    assert evicted.reason.startswith("Evicted: The node was low on resource")

    # terminating still holds the node: the loop sees it as running
    assert _obs("deleted_while_running", 1).phase == "running"
    killed = _obs("deleted_while_running", 3, deleted=True)
    assert (killed.phase, killed.exit_code, killed.whole_life_state) == ("exited", 143, 800)

    stopped = _obs("deadline_exceeded", 2)
    assert (stopped.phase, stopped.exit_code, stopped.init_failed) == ("exited", 143, False)

    lost = _obs("node_lost", 2)
    assert lost.phase == "gone" and "lost" in lost.reason
    assert _obs("node_lost", 3, deleted=True).phase == "gone"
    assert _obs("node_lost_legacy", 1).phase == "gone"

    acked = _obs("suspend_acked", 2)
    assert acked.phase == "exited" and acked.suspend_acked and acked.whole_life_state == 1200

    pull = _obs("image_pull_backoff", 2)
    assert pull.phase == "building" and "ImagePullBackOff" in pull.reason
    timed_out = _obs("image_pull_backoff", 3)
    assert timed_out.phase == "exited" and timed_out.init_failed

    rejected = _obs("admission_rejected", 0)
    assert rejected.phase == "exited" and rejected.init_failed and rejected.exit_code is None
    missing = _obs("entrypoint_missing", 0)
    assert (missing.phase, missing.exit_code, missing.init_failed) == ("exited", 127, True)


def test_a_pod_deleted_before_it_ended_is_gone_with_the_reason():
    running = load_sequence("oomkilled")["events"][1]["object"]
    view = observe_missing(running, "the pod was deleted", now=0)
    assert (view.state, view.reason) == ("gone", "the pod was deleted")
    assert observe_missing(None, "no longer exists", now=0).state == "gone"


def test_invalid_image_name_fails_at_once():
    pod = json.loads(json.dumps(load_sequence("image_pull_backoff")["events"][0]["object"]))
    pod["status"]["containerStatuses"][0]["state"] = {
        "waiting": {"reason": "InvalidImageName", "message": "invalid reference format"}
    }
    view = observe_pod(pod, now=parse_time("2025-03-04T10:00:01Z"))
    assert view.state == "failed" and view.init_failed


def test_a_foreign_termination_message_is_ignored():
    pod = json.loads(json.dumps(load_sequence("oomkilled")["events"][2]["object"]))
    term = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    term.update(exitCode=1, reason="Error", message="Traceback (most recent call last): ...")
    view = observe_pod(pod, now=0)
    assert (view.state, view.exit_code, view.init_failed) == ("failed", 1, False)
