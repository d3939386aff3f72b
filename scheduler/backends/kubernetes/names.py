"""Names the backend gives to Kubernetes objects, and the labels/annotations that link a
pod back to its chain, job and rank. Pure; shared by manifests, the watch and the sweep.
"""

from __future__ import annotations

import re

from scheduler.backends.types import RankKey

MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "hai-scheduler"
INSTANCE_LABEL = "hai.io/instance"
COMPONENT_LABEL = "hai.io/component"
CHAIN_LABEL = "hai.io/chain"
JOB_LABEL = "hai.io/job"
RANK_LABEL = "hai.io/rank"
USER_LABEL = "hai.io/user"

SUSPEND_ANNOTATION = "hai.io/suspend"
OWNER_ANNOTATION = "hai.io/owner"
CHAIN_NAME_ANNOTATION = "hai.io/chain-name"
NODE_ANNOTATION = "hai.io/node"

CONTAINER_NAME = "rank"

_LABEL_VALUE_BAD = re.compile(r"[^A-Za-z0-9._-]+")


def group_label(prefix: str) -> str:
    """The node label naming a node's group, as in HAI: ``<prefix>_mars_group``."""
    return f"{prefix}_mars_group"


def pod_name(prefix: str, key: RankKey) -> str:
    return f"{prefix}-{key.chain_id}-{key.job_seq}-{key.rank}"


def service_name(prefix: str, chain_id: int, job_seq: int) -> str:
    return f"{prefix}-{chain_id}-{job_seq}"


def label_value(text: str) -> str:
    """``text`` squeezed into a valid label value (63 chars, alphanumeric at both ends)."""
    value = _LABEL_VALUE_BAD.sub("_", text)[:63]
    return value.strip("._-")


def instance_labels(instance: str) -> dict[str, str]:
    return {MANAGED_BY_LABEL: MANAGED_BY, INSTANCE_LABEL: label_value(instance)}


def instance_selector(instance: str) -> str:
    """Label selector matching every object this scheduler instance created."""
    return ",".join(f"{k}={v}" for k, v in instance_labels(instance).items())


def job_labels(instance: str, chain_id: int, job_seq: int) -> dict[str, str]:
    return {
        **instance_labels(instance),
        CHAIN_LABEL: str(chain_id),
        JOB_LABEL: str(job_seq),
    }


def rank_labels(instance: str, key: RankKey, owner: str) -> dict[str, str]:
    return {
        **job_labels(instance, key.chain_id, key.job_seq),
        COMPONENT_LABEL: "rank",
        RANK_LABEL: str(key.rank),
        USER_LABEL: label_value(owner) or "unknown",
    }


def key_from_labels(labels: dict[str, str] | None) -> RankKey | None:
    """The rank a pod belongs to, from its labels; None for anything else."""
    if not labels:
        return None
    try:
        return RankKey(int(labels[CHAIN_LABEL]), int(labels[JOB_LABEL]), int(labels[RANK_LABEL]))
    except (KeyError, ValueError):
        return None


def job_from_labels(labels: dict[str, str] | None) -> tuple[int, int] | None:
    """(chain id, job seq) of a job's service or pod, from its labels."""
    if not labels:
        return None
    try:
        return int(labels[CHAIN_LABEL]), int(labels[JOB_LABEL])
    except (KeyError, ValueError):
        return None
