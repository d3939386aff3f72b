"""Pure: what a rank's pod says about the rank.

:func:`observe_pod` turns a pod (the API's JSON dict) into a :class:`PodView` whose
``state`` is one of the per-rank states the issue names — ``created``, ``building``,
``unschedulable``, ``running``, ``terminating``, ``succeeded``, ``failed``, ``stopped`` —
or ``gone``; :func:`observe_missing` does the same for a pod that no longer exists, from
the last version of it that was seen. :func:`to_observation` makes the loop's
:class:`RankObservation` out of a view.

The rules, in order:

1. The rank container terminated → ``succeeded`` (exit 0), ``stopped`` (exit 0 after the
   user's code acknowledged a suspend) or ``failed``. The in-pod supervisor's termination
   message (JSON: exit code, suspend ack, whole-life state, init failure) wins over the
   runtime's exit code. ``OOMKilled`` and ``Evicted`` become the reason; a container that
   could not start (``StartError``, ``ContainerCannotRun``) is an init failure.
2. Phase Failed/Succeeded without a terminated container: evicted (``status.reason``
   Evicted) or stopped by its active deadline (``DeadlineExceeded``, how the backend stops
   a rank) → failed with that reason; otherwise the kubelet refused the pod
   (``OutOf<resource>``, ``UnexpectedAdmissionError``, ``NodeAffinity`` …) → init failure.
3. The node is lost (``status.reason`` NodeLost, phase Unknown, or a deletion by the taint
   manager) → ``gone`` with the reason, even though the object still exists.
4. ``deletionTimestamp`` set → ``terminating``.
5. Pending: ``PodScheduled=False`` with reason Unschedulable → ``unschedulable`` (with the
   scheduler's message); scheduled and pulling/creating → ``building``. A bad image name is
   an init failure at once; a pull or config error longer than ``build_timeout`` is too.
6. Running → ``running``.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Literal

from scheduler.backends.kubernetes.names import CONTAINER_NAME
from scheduler.backends.types import RankObservation

PodState = Literal[
    "created",
    "building",
    "unschedulable",
    "running",
    "terminating",
    "succeeded",
    "failed",
    "stopped",
    "gone",
]

FATAL_WAITING = frozenset({"InvalidImageName", "ErrImageNeverPull"})
ERROR_WAITING = frozenset(
    {
        "ErrImagePull",
        "ImagePullBackOff",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "PreCreateHookError",
        "PostStartHookError",
    }
)
START_FAILURES = frozenset({"StartError", "ContainerCannotRun"})
NODE_LOST_REASONS = frozenset({"NodeLost", "UnexpectedNodeShutdown"})
KILLED_EXIT = 137  # SIGKILL: what an evicted or OOM-killed rank reports when nothing else is known


@dataclass(frozen=True, slots=True)
class PodView:
    """The rank as its pod shows it."""

    state: PodState
    exit_code: int | None = None
    reason: str = ""
    suspend_acked: bool = False
    whole_life_state: int | None = None
    init_failed: bool = False
    node: str = ""

    @property
    def ended(self) -> bool:
        return self.state in ("succeeded", "failed", "stopped", "gone")


def parse_time(value: str | None) -> float | None:
    """Seconds since the epoch of an RFC 3339 time as the API writes it."""
    if not value:
        return None
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _container_status(pod: dict[str, Any]) -> dict[str, Any] | None:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    for cs in statuses:
        if cs.get("name") == CONTAINER_NAME:
            return cs
    return statuses[0] if statuses else None


def _condition(pod: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if cond.get("type") == kind:
            return cond
    return None


def parse_termination_message(message: str | None) -> dict[str, Any]:
    """The supervisor's JSON termination message; {} when absent or not ours."""
    if not message:
        return {}
    try:
        data = json.loads(message)
    except ValueError:
        return {}
    return data if isinstance(data, dict) and "exit_code" in data else {}


def _pod_reason(status: dict[str, Any]) -> str:
    reason = status.get("reason") or ""
    message = (status.get("message") or "").strip()
    if reason and message:
        return f"{reason}: {message}"
    return reason or message


def _terminated_view(pod: dict[str, Any], term: dict[str, Any], node: str) -> PodView:
    status = pod.get("status") or {}
    msg = parse_termination_message(term.get("message"))
    code = msg.get("exit_code", term.get("exitCode"))
    code = int(code) if code is not None else None
    runtime_reason = term.get("reason") or ""
    acked = bool(msg.get("suspend_acked"))
    wls = msg.get("whole_life_state")
    wls = int(wls) if isinstance(wls, int | str) and str(wls).lstrip("-").isdigit() else None
    init_failed = bool(msg.get("init_failed"))
    reason = str(msg.get("reason") or "")
    if runtime_reason in START_FAILURES and not msg:
        init_failed = True
        reason = f"{runtime_reason}: {(term.get('message') or '').strip()}".rstrip(": ")
    if runtime_reason == "OOMKilled":
        reason = "OOMKilled"
    if status.get("reason") == "Evicted":
        reason = _pod_reason(status)
    if init_failed or code != 0:
        state: PodState = "failed"
    else:
        state = "stopped" if acked else "succeeded"
    return PodView(
        state=state,
        exit_code=code,
        reason=reason,
        suspend_acked=acked,
        whole_life_state=wls,
        init_failed=init_failed,
        node=node,
    )


def observe_pod(pod: dict[str, Any], *, now: float, build_timeout: float = 600.0) -> PodView:
    """The rank's state from its pod (see the module docstring for the rules, numbered as
    the steps below)."""
    status = pod.get("status") or {}
    node = (pod.get("spec") or {}).get("nodeName") or ""
    phase = status.get("phase") or "Pending"
    cs = _container_status(pod)
    state = (cs or {}).get("state") or {}
    if "terminated" in state:  # 1. the rank's container ended
        return _terminated_view(pod, state["terminated"], node)
    if phase in ("Failed", "Succeeded"):  # 2. the pod ended, no container status tells how
        return _ended_pod_view(status, phase, cs, node)
    lost = _node_lost_view(pod, phase, node)  # 3. the node is lost
    if lost is not None:
        return lost
    if (pod.get("metadata") or {}).get("deletionTimestamp"):  # 4. being deleted
        return PodView("terminating", node=node)
    if phase == "Pending":  # 5. not yet running
        return _pending_view(pod, state, node, now=now, build_timeout=build_timeout)
    return PodView("running", node=node)  # 6. running


def _ended_pod_view(
    status: dict[str, Any], phase: str, cs: dict[str, Any] | None, node: str
) -> PodView:
    """Rule 2: phase Failed/Succeeded with no terminated container."""
    if status.get("reason") == "Evicted":
        return PodView("failed", KILLED_EXIT, _pod_reason(status), node=node)
    if phase == "Succeeded":
        return PodView("succeeded", 0, node=node)
    if status.get("reason") == "DeadlineExceeded":  # stopped by terminate(), never ran on
        return PodView("failed", KILLED_EXIT, _pod_reason(status), node=node)
    started = bool((cs or {}).get("lastState", {}).get("terminated")) or bool(
        (cs or {}).get("started")
    )
    reason = _pod_reason(status) or "the pod failed before its container started"
    return PodView("failed", None, reason, init_failed=not started, node=node)


def _node_lost_view(pod: dict[str, Any], phase: str, node: str) -> PodView | None:
    """Rule 3: ``gone`` when the pod's node is lost (by the pod's reason or phase, or a
    deletion by the taint manager); None otherwise."""
    status = pod.get("status") or {}
    if status.get("reason") in NODE_LOST_REASONS or phase == "Unknown":
        return PodView("gone", reason=f"node {node or '?'} lost: {_pod_reason(status)}", node=node)
    disruption = _condition(pod, "DisruptionTarget")
    if (
        (pod.get("metadata") or {}).get("deletionTimestamp")
        and disruption
        and disruption.get("status") == "True"
        and disruption.get("reason") == "DeletionByTaintManager"
    ):
        why = (disruption.get("message") or "").strip()
        return PodView("gone", reason=f"node {node or '?'} lost: {why}".rstrip(": "), node=node)
    return None


def _pending_view(
    pod: dict[str, Any], state: dict[str, Any], node: str, *, now: float, build_timeout: float
) -> PodView:
    """Rule 5: a Pending pod is not scheduled yet (``unschedulable``/``created``) or is
    being built (``building``, unless its image or config fails it)."""
    scheduled = _condition(pod, "PodScheduled")
    if scheduled and scheduled.get("status") == "False":
        if scheduled.get("reason") == "Unschedulable":
            return PodView("unschedulable", reason=(scheduled.get("message") or "").strip())
        return PodView("created", reason=(scheduled.get("message") or "").strip())
    if not node:
        return PodView("created")
    return _waiting_view(pod, state, node, now=now, build_timeout=build_timeout)


def _waiting_view(
    pod: dict[str, Any], state: dict[str, Any], node: str, *, now: float, build_timeout: float
) -> PodView:
    """Rule 5, scheduled: ``building``, with the container's waiting reason; a bad image name
    fails the rank at once, a pull or config error longer than ``build_timeout`` does too."""
    waiting = state.get("waiting") or {}
    why = waiting.get("reason") or ""
    detail = (waiting.get("message") or "").strip()
    reason = f"{why}: {detail}" if detail else why
    if why in FATAL_WAITING:
        return PodView("failed", None, reason, init_failed=True, node=node)
    if why in ERROR_WAITING:
        created = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
        if created is not None and now - created > build_timeout:
            return PodView(
                "failed",
                None,
                f"{reason} (for longer than {build_timeout:.0f} s)",
                init_failed=True,
                node=node,
            )
    return PodView("building", reason=reason, node=node)


def observe_missing(last: dict[str, Any] | None, why: str, *, now: float) -> PodView:
    """The rank of a pod that no longer exists; ``last`` is the last version seen, if any.

    A pod deleted after its container ended keeps that ending; otherwise the rank is
    ``gone`` with ``why`` (and the node-lost reason, when the last version had one).
    """
    if last is not None:
        view = observe_pod(last, now=now)
        if view.state in ("succeeded", "failed", "stopped"):
            return view
        if view.state == "gone":
            return view
        return PodView("gone", reason=why, node=view.node)
    return PodView("gone", reason=why)


_PHASES: dict[str, str] = {
    "created": "pending",
    "building": "building",
    "unschedulable": "unschedulable",
    "running": "running",
    "terminating": "running",  # still holds its node until the pod is gone
}


def to_observation(view: PodView) -> RankObservation:
    """The loop's observation of a rank from its pod view."""
    if view.state in _PHASES:
        return RankObservation(phase=_PHASES[view.state], reason=view.reason)  # type: ignore[arg-type]
    if view.state == "gone":
        return RankObservation(
            phase="gone", reason=view.reason, whole_life_state=view.whole_life_state
        )
    return RankObservation(
        phase="exited",
        exit_code=view.exit_code,
        reason=view.reason,
        whole_life_state=view.whole_life_state,
        suspend_acked=view.suspend_acked,
        init_failed=view.init_failed,
    )
