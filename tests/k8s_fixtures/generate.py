# ruff: noqa: E501 - the recorded messages are kept verbatim
"""Writes the pod event sequences of this folder (run it to regenerate them).

The sequences are written by hand in the exact JSON shape the API server returns (v1.30
field names, conditions and reasons as the kubelet, scheduler and node lifecycle
controller set them); no cluster can run on the development machines, so they are not
captured from one. Each event carries the state the backend must derive from it
(``expect``); the tests also validate every object against the Kubernetes schema.
"""

import copy
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent
NS = "hai-tasks"


def base(
    name="hai-7-0-0",
    chain=7,
    job=0,
    rank=0,
    node="gpu-node-03",
    uid="5f0c6a0e-3c1b-4a54-9d5e-2a8f1b0c7d11",
):
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NS,
            "uid": uid,
            "resourceVersion": "0",
            "creationTimestamp": "2025-03-04T10:00:00Z",
            "labels": {
                "app.kubernetes.io/managed-by": "hai-scheduler",
                "hai.io/instance": "hai",
                "hai.io/chain": str(chain),
                "hai.io/job": str(job),
                "hai.io/rank": str(rank),
                "hai.io/component": "rank",
                "hai.io/user": "alice",
            },
            "annotations": {
                "hai.io/suspend": "0",
                "hai.io/owner": "alice",
                "hai.io/node": node,
                "hai.io/chain-name": "resnet",
            },
        },
        "spec": {
            "restartPolicy": "Never",
            "hostname": name,
            "subdomain": f"hai-{chain}-{job}",
            "terminationGracePeriodSeconds": 10,
            "schedulerName": "default-scheduler",
            "containers": [
                {
                    "name": "rank",
                    "image": "ghcr.io/hai-hub/hai-singleuser:0.1.0",
                    "resources": {
                        "limits": {"nvidia.com/gpu": "8"},
                        "requests": {"nvidia.com/gpu": "8"},
                    },
                    "terminationMessagePath": "/dev/termination-log",
                    "terminationMessagePolicy": "File",
                }
            ],
            "tolerations": [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        },
        "status": {"phase": "Pending", "qosClass": "BestEffort"},
    }


class Seq:
    def __init__(self, desc, pod=None):
        self.desc = desc
        self.pod = pod or base()
        self.events = []
        self.rv = 41000

    def ev(self, typ, at, expect, mutate=None, status=None):
        self.rv += 7
        if mutate:
            mutate(self.pod)
        if status is not None:
            self.pod["status"] = status
        self.pod["metadata"]["resourceVersion"] = str(self.rv)
        self.events.append(
            {"type": typ, "at": at, "object": copy.deepcopy(self.pod), "expect": expect}
        )

    def write(self, name):
        (OUT / f"{name}.json").write_text(
            json.dumps({"description": self.desc, "events": self.events}, indent=1) + "\n"
        )


def cond(t, s, at, reason=None, message=None):
    c = {"type": t, "status": s, "lastProbeTime": None, "lastTransitionTime": at}
    if reason:
        c["reason"] = reason
    if message:
        c["message"] = message
    return c


def scheduled(p, node="gpu-node-03"):
    p["spec"]["nodeName"] = node


def cs_waiting(reason, message=None):
    w = {"reason": reason}
    if message:
        w["message"] = message
    return {
        "name": "rank",
        "state": {"waiting": w},
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "image": "ghcr.io/hai-hub/hai-singleuser:0.1.0",
        "imageID": "",
        "started": False,
    }


def cs_running(at):
    return {
        "name": "rank",
        "state": {"running": {"startedAt": at}},
        "lastState": {},
        "ready": True,
        "restartCount": 0,
        "image": "ghcr.io/hai-hub/hai-singleuser:0.1.0",
        "imageID": "ghcr.io/hai-hub/hai-singleuser@sha256:4b1e",
        "containerID": "containerd://9a1f",
        "started": True,
    }


def cs_term(code, reason, started, finished, message=None):
    t = {
        "exitCode": code,
        "reason": reason,
        "startedAt": started,
        "finishedAt": finished,
        "containerID": "containerd://9a1f",
    }
    if message is not None:
        t["message"] = message
    return {
        "name": "rank",
        "state": {"terminated": t},
        "lastState": {},
        "ready": False,
        "restartCount": 0,
        "image": "ghcr.io/hai-hub/hai-singleuser:0.1.0",
        "imageID": "ghcr.io/hai-hub/hai-singleuser@sha256:4b1e",
        "containerID": "containerd://9a1f",
        "started": False,
    }


def status(phase, conds, cstat=None, **extra):
    s = {"phase": phase, "conditions": conds, "qosClass": "BestEffort"}
    if phase != "Pending" or cstat:
        s.update(
            {"hostIP": "10.0.3.13", "podIP": "10.244.3.17", "startTime": "2025-03-04T10:00:01Z"}
        )
    if cstat:
        s["containerStatuses"] = [cstat]
    s.update(extra)
    return s


T0 = "2025-03-04T10:00:00Z"


def sched_conds(at="2025-03-04T10:00:01Z", ready="False", ready_reason="ContainersNotReady"):
    return [
        cond("PodReadyToStartContainers", "True" if ready == "True" else "False", at),
        cond("Initialized", "True", at),
        cond(
            "Ready",
            ready,
            at,
            None if ready == "True" else ready_reason,
            None if ready == "True" else "containers with unready status: [rank]",
        ),
        cond(
            "ContainersReady",
            ready,
            at,
            None if ready == "True" else ready_reason,
            None if ready == "True" else "containers with unready status: [rank]",
        ),
        cond("PodScheduled", "True", T0),
    ]


MSG_OK = json.dumps(
    {
        "exit_code": 0,
        "suspend_acked": False,
        "whole_life_state": None,
        "init_failed": False,
        "reason": "",
    }
)

# 1. unschedulable, then placed, pulled, run, succeeded, deleted by the sweep
s = Seq(
    "Pending + Unschedulable (GPUs still held by the previous occupant), then scheduled, image pulled, running, Succeeded with the supervisor's termination message, then deleted."
)
s.ev("ADDED", "2025-03-04T10:00:00Z", {"state": "created"})
s.ev(
    "MODIFIED",
    "2025-03-04T10:00:00Z",
    {"state": "unschedulable", "reason_contains": "Insufficient nvidia.com/gpu"},
    status=status(
        "Pending",
        [
            cond(
                "PodScheduled",
                "False",
                T0,
                "Unschedulable",
                "0/5 nodes are available: 1 Insufficient nvidia.com/gpu, 4 node(s) didn't match Pod's node affinity/selector. preemption: 0/5 nodes are available: 1 No preemption victims found for incoming pod, 4 Preemption is not helpful for scheduling.",
            )
        ],
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:02:10Z",
    {"state": "building", "reason_contains": "ContainerCreating"},
    mutate=scheduled,
    status=status("Pending", sched_conds("2025-03-04T10:02:10Z"), cs_waiting("ContainerCreating")),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:02:40Z",
    {"state": "running"},
    status=status(
        "Running", sched_conds("2025-03-04T10:02:40Z", "True"), cs_running("2025-03-04T10:02:39Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T11:30:00Z",
    {"state": "succeeded", "exit_code": 0},
    status=status(
        "Succeeded",
        sched_conds("2025-03-04T11:30:00Z", "False", "PodCompleted"),
        cs_term(0, "Completed", "2025-03-04T10:02:39Z", "2025-03-04T11:29:59Z", MSG_OK),
    ),
)
s.ev(
    "DELETED",
    "2025-03-04T11:30:31Z",
    {"state": "succeeded", "exit_code": 0},
    mutate=lambda p: p["metadata"].update(
        deletionTimestamp="2025-03-04T11:30:30Z", deletionGracePeriodSeconds=0
    ),
)
s.write("unschedulable_then_succeeded")

# 2. OOMKilled: the whole container was killed, no termination message
s = Seq(
    "Running, then the container's memory cgroup hits its limit: OOMKilled, exit 137, phase Failed, no termination message (the supervisor died with it)."
)
s.ev(
    "ADDED",
    T0,
    {"state": "building", "reason_contains": "ContainerCreating"},
    mutate=scheduled,
    status=status("Pending", sched_conds(), cs_waiting("ContainerCreating")),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:00:20Z",
    {"state": "running"},
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:41:07Z",
    {"state": "failed", "exit_code": 137, "reason": "OOMKilled"},
    status=status(
        "Failed",
        sched_conds("2025-03-04T10:41:07Z", "False", "PodFailed"),
        cs_term(137, "OOMKilled", "2025-03-04T10:00:19Z", "2025-03-04T10:41:06Z"),
    ),
)
s.write("oomkilled")

# 3. evicted by the kubelet under node pressure
s = Seq(
    "Running, then the kubelet evicts the pod under ephemeral-storage pressure: phase Failed, status.reason Evicted, DisruptionTarget condition, container ContainerStatusUnknown 137."
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=scheduled,
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T12:13:00Z",
    {"state": "running"},
    status=status(
        "Running",
        [
            cond(
                "DisruptionTarget",
                "True",
                "2025-03-04T12:13:00Z",
                "TerminationByKubelet",
                "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9216Mi. ",
            ),
            *sched_conds("2025-03-04T10:00:20Z", "True"),
        ],
        cs_running("2025-03-04T10:00:19Z"),
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T12:13:11Z",
    {
        "state": "failed",
        "exit_code": 137,
        "reason_contains": "Evicted: The node was low on resource: ephemeral-storage",
    },
    status=status(
        "Failed",
        [
            cond(
                "DisruptionTarget",
                "True",
                "2025-03-04T12:13:00Z",
                "TerminationByKubelet",
                "The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9216Mi. ",
            ),
            *sched_conds("2025-03-04T12:13:11Z", "False", "PodFailed"),
        ],
        cs_term(
            137,
            "ContainerStatusUnknown",
            "2025-03-04T10:00:19Z",
            "2025-03-04T12:13:10Z",
            "The container could not be located when the pod was terminated",
        ),
        reason="Evicted",
        message="The node was low on resource: ephemeral-storage. Threshold quantity: 10Gi, available: 9216Mi. Container rank was using 41Gi, request is 0, has larger consumption of ephemeral-storage. ",
    ),
)
s.write("evicted")

# 4. node lost: NotReady, taint-manager eviction, stuck terminating, then force-deleted
s = Seq(
    "Running, then the node stops reporting: Ready=False (NodeNotReady), after 300 s the taint manager deletes the pod (DisruptionTarget DeletionByTaintManager); the kubelet never confirms, so the pod stays terminating until it is force-deleted."
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=scheduled,
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)


def notready(p):
    pass


s.ev(
    "MODIFIED",
    "2025-03-04T14:00:40Z",
    {"state": "running"},
    status=status(
        "Running",
        [
            cond("PodReadyToStartContainers", "True", "2025-03-04T10:00:20Z"),
            cond("Initialized", "True", "2025-03-04T10:00:20Z"),
            cond("Ready", "False", "2025-03-04T14:00:40Z", "NodeNotReady", None),
            cond("ContainersReady", "True", "2025-03-04T10:00:20Z"),
            cond("PodScheduled", "True", T0),
        ],
        cs_running("2025-03-04T10:00:19Z"),
    ),
)


def taint_delete(p):
    p["metadata"].update(deletionTimestamp="2025-03-04T14:05:50Z", deletionGracePeriodSeconds=10)


s.ev(
    "MODIFIED",
    "2025-03-04T14:05:40Z",
    {"state": "gone", "reason_contains": "lost"},
    mutate=taint_delete,
    status=status(
        "Running",
        [
            cond(
                "DisruptionTarget",
                "True",
                "2025-03-04T14:05:40Z",
                "DeletionByTaintManager",
                "Taint manager: deleting due to NoExecute taint",
            ),
            cond("PodReadyToStartContainers", "True", "2025-03-04T10:00:20Z"),
            cond("Initialized", "True", "2025-03-04T10:00:20Z"),
            cond("Ready", "False", "2025-03-04T14:00:40Z", "NodeNotReady", None),
            cond("ContainersReady", "True", "2025-03-04T10:00:20Z"),
            cond("PodScheduled", "True", T0),
        ],
        cs_running("2025-03-04T10:00:19Z"),
    ),
)
s.ev("DELETED", "2025-03-04T14:11:00Z", {"state": "gone", "reason_contains": "lost"})
s.write("node_lost")

# 4b. node lost, older control plane: status.reason NodeLost, phase Unknown
s = Seq(
    "Running, then (older node lifecycle controller) phase Unknown with status.reason NodeLost.",
    base(name="hai-7-0-1", rank=1, node="gpu-node-04", uid="0b8e5d42-9d7c-4c3e-8a51-7f4e2d9c6a20"),
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=lambda p: scheduled(p, "gpu-node-04"),
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T14:05:40Z",
    {"state": "gone", "reason_contains": "NodeLost"},
    status=status(
        "Unknown",
        sched_conds("2025-03-04T14:05:40Z", "False", "NodeNotReady"),
        cs_running("2025-03-04T10:00:19Z"),
        reason="NodeLost",
        message="Node gpu-node-04 which was running pod hai-7-0-1 is unresponsive",
    ),
)
s.write("node_lost_legacy")

# 5. image pull failure until the build timeout
s = Seq(
    "Scheduled, the image cannot be pulled: ErrImagePull, ImagePullBackOff; after the build timeout (900 s) it is an init failure."
)
s.ev(
    "ADDED",
    T0,
    {"state": "building", "reason_contains": "ContainerCreating"},
    mutate=scheduled,
    status=status("Pending", sched_conds(), cs_waiting("ContainerCreating")),
)
msg = 'Back-off pulling image "ghcr.io/hai-hub/hai-singleuser:0.1.0-typo"'
s.ev(
    "MODIFIED",
    "2025-03-04T10:00:09Z",
    {"state": "building", "reason_contains": "ErrImagePull"},
    status=status(
        "Pending",
        sched_conds(),
        cs_waiting(
            "ErrImagePull",
            'failed to pull and unpack image "ghcr.io/hai-hub/hai-singleuser:0.1.0-typo": not found',
        ),
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:00:25Z",
    {"state": "building", "reason_contains": "ImagePullBackOff"},
    status=status("Pending", sched_conds(), cs_waiting("ImagePullBackOff", msg)),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:15:30Z",
    {"state": "failed", "init_failed": True, "reason_contains": "ImagePullBackOff"},
    status=status("Pending", sched_conds(), cs_waiting("ImagePullBackOff", msg)),
)
s.write("image_pull_backoff")

# 6. suspend acknowledged: annotation patched, user code checkpoints, exits 0 with the ack
s = Seq(
    "Running; the scheduler sets hai.io/suspend=1; the user's code checkpoints, calls go_suspend() and exits 0; the termination message carries the ack and whole_life_state."
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=scheduled,
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:30:00Z",
    {"state": "running"},
    mutate=lambda p: p["metadata"]["annotations"].update({"hai.io/suspend": "1"}),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:31:12Z",
    {"state": "stopped", "exit_code": 0, "suspend_acked": True, "whole_life_state": 1200},
    status=status(
        "Succeeded",
        sched_conds("2025-03-04T10:31:12Z", "False", "PodCompleted"),
        cs_term(
            0,
            "Completed",
            "2025-03-04T10:00:19Z",
            "2025-03-04T10:31:11Z",
            json.dumps(
                {
                    "exit_code": 0,
                    "suspend_acked": True,
                    "whole_life_state": 1200,
                    "init_failed": False,
                    "reason": "",
                }
            ),
        ),
    ),
)
s.write("suspend_acked")

# 7. stopped by deletion: terminating, SIGTERM honoured (143), then deleted
s = Seq(
    "Running; the scheduler deletes the pod (stop/timeout/suspend grace over): deletionTimestamp set, the supervisor forwards SIGTERM, exit 143, then the pod is gone."
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=scheduled,
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:40:00Z",
    {"state": "terminating"},
    mutate=lambda p: p["metadata"].update(
        deletionTimestamp="2025-03-04T10:40:10Z", deletionGracePeriodSeconds=10
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:40:02Z",
    {"state": "failed", "exit_code": 143},
    status=status(
        "Failed",
        sched_conds("2025-03-04T10:40:02Z", "False", "PodFailed"),
        cs_term(
            143,
            "Error",
            "2025-03-04T10:00:19Z",
            "2025-03-04T10:40:01Z",
            json.dumps(
                {
                    "exit_code": 143,
                    "suspend_acked": False,
                    "whole_life_state": 800,
                    "init_failed": False,
                    "reason": "killed by signal 15",
                }
            ),
        ),
    ),
)
s.ev("DELETED", "2025-03-04T10:40:03Z", {"state": "failed", "exit_code": 143})
s.write("deleted_while_running")

# 8. admission rejected by the kubelet (spec.nodeName placement, GPUs taken)
s = Seq(
    "Bound with spec.nodeName to a node whose GPUs are taken: the kubelet rejects it at admission (phase Failed, reason UnexpectedAdmissionError), no container ever ran."
)
s.ev(
    "ADDED",
    T0,
    {"state": "failed", "init_failed": True, "reason_contains": "UnexpectedAdmissionError"},
    mutate=scheduled,
    status={
        "phase": "Failed",
        "reason": "UnexpectedAdmissionError",
        "message": "Pod was rejected: Allocate failed due to requested number of devices unavailable for nvidia.com/gpu. Requested: 8, Available: 0, which is unexpected",
        "startTime": "2025-03-04T10:00:00Z",
        "qosClass": "BestEffort",
    },
)
s.write("admission_rejected")

# 9. the user's entrypoint does not exist: the supervisor reports an init failure
s = Seq(
    "The supervisor cannot start the entrypoint (missing file): exit 127 with init_failed in the termination message."
)
s.ev(
    "ADDED",
    T0,
    {"state": "failed", "exit_code": 127, "init_failed": True, "reason_contains": "cannot start"},
    mutate=scheduled,
    status=status(
        "Failed",
        sched_conds("2025-03-04T10:00:05Z", "False", "PodFailed"),
        cs_term(
            127,
            "Error",
            "2025-03-04T10:00:04Z",
            "2025-03-04T10:00:04Z",
            json.dumps(
                {
                    "exit_code": 127,
                    "suspend_acked": False,
                    "whole_life_state": None,
                    "init_failed": True,
                    "reason": "cannot start '/home/alice/train.py': No such file or directory",
                }
            ),
        ),
    ),
)
s.write("entrypoint_missing")
print(sorted(p.name for p in OUT.glob("*.json")))

# 10. stopped by the scheduler: activeDeadlineSeconds lowered, the kubelet stops the pod
s = Seq(
    "Running; the scheduler stops the rank by lowering spec.activeDeadlineSeconds: the kubelet sends SIGTERM (forwarded by the supervisor), the code exits 143, the pod ends Failed with reason DeadlineExceeded and stays (with its log) until the sweep deletes it."
)
s.ev(
    "ADDED",
    T0,
    {"state": "running"},
    mutate=scheduled,
    status=status(
        "Running", sched_conds("2025-03-04T10:00:20Z", "True"), cs_running("2025-03-04T10:00:19Z")
    ),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:40:00Z",
    {"state": "running"},
    mutate=lambda p: p["spec"].update(activeDeadlineSeconds=2401),
)
s.ev(
    "MODIFIED",
    "2025-03-04T10:40:03Z",
    {"state": "failed", "exit_code": 143, "whole_life_state": 800},
    status=status(
        "Failed",
        sched_conds("2025-03-04T10:40:03Z", "False", "PodFailed"),
        cs_term(
            143,
            "Error",
            "2025-03-04T10:00:19Z",
            "2025-03-04T10:40:02Z",
            json.dumps(
                {
                    "exit_code": 143,
                    "suspend_acked": False,
                    "whole_life_state": 800,
                    "init_failed": False,
                    "reason": "killed by signal 15",
                }
            ),
        ),
        reason="DeadlineExceeded",
        message="Pod was active on the node longer than the specified deadline",
    ),
)
s.write("deadline_exceeded")
