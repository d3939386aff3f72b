"""Pure functions: a :class:`RankLaunch` → the rank's pod and its job's headless service.

Nothing here talks to the API; the backend passes :class:`PodSettings` (its traits, as
plain data) and the result is a plain dict in the API's camelCase JSON shape, ready to be
sent and validated against the Kubernetes schema.

What a rank pod carries:

- placement on the assigned node of the chain's group (required node affinity on the node's
  name and ``<prefix>_mars_group=<group>``, or ``spec.nodeName``), tolerations;
- ``nvidia.com/gpu`` (the node's GPUs or the chain's ``gpus_per_node``), optionally the RDMA
  resource (HAI's ``HAS_RDMA_HCA_RESOURCE``) with ``IPC_LOCK``, a memory-backed ``/dev/shm``;
- the storage mounts (host path or PVC; ``{user}`` in a path, claim or sub-path becomes the
  chain's owner), the shared haienv root, the rank variables;
- the control folder: an ``emptyDir`` at ``HAI_CONTROL_DIR`` for the files the user's code
  writes, and a downward-API volume projecting the ``hai.io/suspend`` annotation into
  ``<podinfo>/suspend``; the in-pod supervisor (:mod:`.rankrun`) links one to the other;
- labels (instance, chain, job, rank, user) and annotations (owner, chain name, suspend).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from scheduler.backends.kubernetes import names
from scheduler.backends.types import RankKey, RankLaunch, rank_argv

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
SHM_VOLUME = "hai-shm"
CONTROL_VOLUME = "hai-control"
PODINFO_VOLUME = "hai-podinfo"
ENV_ROOT_VOLUME = "hai-envs"
TERMINATION_LOG = "/dev/termination-log"


@dataclass(frozen=True, slots=True)
class StorageMount:
    """One storage mount: a host path or a PVC, mounted at ``mount_path``.

    ``{user}`` in ``host_path``, ``claim``, ``sub_path`` and ``mount_path`` is replaced by
    the owner's name, which makes a per-user mount out of one entry.
    """

    name: str
    mount_path: str
    host_path: str = ""
    claim: str = ""
    sub_path: str = ""
    read_only: bool = False
    host_path_type: str = "Directory"

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> StorageMount:
        """From a config dict: {name, mount_path, host_path | pvc, sub_path, read_only}."""
        unknown = set(data) - {
            "name",
            "mount_path",
            "host_path",
            "pvc",
            "sub_path",
            "read_only",
            "host_path_type",
        }
        if unknown:
            raise ValueError(f"storage mount {data!r}: unknown keys {sorted(unknown)}")
        name = str(data.get("name", ""))
        if not _DNS_LABEL.match(name):
            raise ValueError(f"storage mount name {name!r} must be a DNS label (a-z, 0-9, -)")
        if not str(data.get("mount_path", "")).startswith("/"):
            raise ValueError(f"storage mount {name!r}: mount_path must be absolute")
        host, claim = str(data.get("host_path", "")), str(data.get("pvc", ""))
        if bool(host) == bool(claim):
            raise ValueError(f"storage mount {name!r}: give exactly one of host_path or pvc")
        return cls(
            name=name,
            mount_path=str(data["mount_path"]),
            host_path=host,
            claim=claim,
            sub_path=str(data.get("sub_path", "")),
            read_only=bool(data.get("read_only", False)),
            host_path_type=str(data.get("host_path_type", "Directory")),
        )

    def render(self, user: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """(volume, volumeMount) for ``user``."""
        volume: dict[str, Any] = {"name": self.name}
        if self.host_path:
            volume["hostPath"] = {
                "path": self.host_path.replace("{user}", user),
                "type": self.host_path_type,
            }
        else:
            volume["persistentVolumeClaim"] = {"claimName": self.claim.replace("{user}", user)}
            if self.read_only:
                volume["persistentVolumeClaim"]["readOnly"] = True
        mount: dict[str, Any] = {
            "name": self.name,
            "mountPath": self.mount_path.replace("{user}", user),
        }
        if self.sub_path:
            mount["subPath"] = self.sub_path.replace("{user}", user)
        if self.read_only:
            mount["readOnly"] = True
        return volume, mount


def parse_mounts(items: Iterable[Mapping[str, Any]]) -> tuple[StorageMount, ...]:
    mounts = tuple(StorageMount.parse(m) for m in items)
    seen: set[str] = set()
    for m in mounts:
        if m.name in seen or m.name in (
            SHM_VOLUME,
            CONTROL_VOLUME,
            PODINFO_VOLUME,
            ENV_ROOT_VOLUME,
        ):
            raise ValueError(f"storage mount name {m.name!r} is used twice or reserved")
        seen.add(m.name)
    return mounts


@dataclass(frozen=True, slots=True)
class PodSettings:
    """The backend's configuration as plain data (see the traits of KubernetesBackend)."""

    namespace: str
    image: str
    instance: str = "hai"
    name_prefix: str = "hai"
    image_pull_policy: str = "IfNotPresent"
    image_pull_secrets: tuple[str, ...] = ()
    node_label_prefix: str = "hai"
    placement: str = "affinity"  # or "node_name"
    tolerations: tuple[dict[str, Any], ...] = ()
    group_tolerations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    gpu_resource: str = "nvidia.com/gpu"
    rdma: bool = False
    rdma_resource: str = "rdma/hca"
    rdma_count: int = 1
    cpu_request: str = ""
    cpu_limit: str = ""
    memory_request: str = ""
    memory_limit: str = ""
    shm_size: str = ""
    storage_mounts: tuple[StorageMount, ...] = ()
    env_root: str = ""
    env_root_volume: StorageMount | None = None
    service_account: str = ""
    termination_grace_seconds: int = 30
    runner_command: tuple[str, ...] = ("python3", "-m", "scheduler.backends.kubernetes.rankrun")
    default_python: str = "python3"
    control_dir: str = "/var/run/hai/control"
    podinfo_dir: str = "/var/run/hai/podinfo"
    extra_env: dict[str, str] = field(default_factory=dict)
    extra_labels: dict[str, str] = field(default_factory=dict)
    extra_annotations: dict[str, str] = field(default_factory=dict)
    priority_class_name: str = ""
    scheduler_name: str = ""
    user_ids: dict[str, tuple[int, int | None]] = field(default_factory=dict)


def master_addr(settings: PodSettings, key: RankKey) -> str:
    """DNS name of rank 0 of ``key``'s job (through the job's headless service)."""
    rank0 = names.pod_name(settings.name_prefix, RankKey(key.chain_id, key.job_seq, 0))
    svc = names.service_name(settings.name_prefix, key.chain_id, key.job_seq)
    return f"{rank0}.{svc}.{settings.namespace}.svc"


def _placement(settings: PodSettings, node: str, group: str | None) -> dict[str, Any]:
    if settings.placement == "node_name":
        return {"nodeName": node}
    term: dict[str, Any] = {
        "matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]
    }
    if group:
        term["matchExpressions"] = [
            {
                "key": names.group_label(settings.node_label_prefix),
                "operator": "In",
                "values": [group],
            }
        ]
    return {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [term]}
            }
        }
    }


def _resources(settings: PodSettings, gpus: int) -> dict[str, Any]:
    limits: dict[str, str] = {}
    requests: dict[str, str] = {}
    if gpus > 0:
        limits[settings.gpu_resource] = str(gpus)
    if settings.rdma:
        limits[settings.rdma_resource] = str(settings.rdma_count)
    if settings.cpu_limit:
        limits["cpu"] = settings.cpu_limit
    if settings.memory_limit:
        limits["memory"] = settings.memory_limit
    if settings.cpu_request:
        requests["cpu"] = settings.cpu_request
    if settings.memory_request:
        requests["memory"] = settings.memory_request
    out: dict[str, Any] = {}
    if limits:
        out["limits"] = limits
    if requests:
        out["requests"] = requests
    return out


def rank_env(launch: RankLaunch, settings: PodSettings) -> dict[str, str]:
    """The rank's environment variables (the loop's, plus the pod's own)."""
    env = dict(settings.extra_env)
    env.update(launch.env)
    env.update(
        {
            "HAI_NODE": launch.node,
            "HAI_CONTROL_DIR": settings.control_dir,
            "MASTER_ADDR": master_addr(settings, launch.key),
            "PYTHONUNBUFFERED": env.get("PYTHONUNBUFFERED", "1"),
        }
    )
    if settings.env_root:
        env["HAIENV_ROOT"] = settings.env_root
    return env


def container_security(rdma: bool = False) -> dict[str, Any]:
    """A user's container: no privilege escalation, no capabilities (RDMA: IPC_LOCK only)."""
    caps: dict[str, Any] = {"drop": ["ALL"]}
    if rdma:
        caps["add"] = ["IPC_LOCK"]
    return {"allowPrivilegeEscalation": False, "capabilities": caps}


def pod_security(launch: RankLaunch, settings: PodSettings) -> dict[str, Any]:
    """The rank's pod runs as its owner's uid/gid (users table; ``user_ids`` overrides),
    never as root, with the runtime's default seccomp profile."""
    uid, gid = settings.user_ids.get(launch.owner) or (launch.uid, launch.gid)
    if uid is None or int(uid) == 0:
        raise RuntimeError(f"user {launch.owner!r} has no uid for their pods (users.uid)")
    ctx: dict[str, Any] = {
        "runAsNonRoot": True,
        "runAsUser": int(uid),
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    if gid is not None:
        ctx["runAsGroup"] = ctx["fsGroup"] = int(gid)
    return ctx


def rank_pod(
    launch: RankLaunch, settings: PodSettings, *, group: str | None, gpus: int
) -> dict[str, Any]:
    """The pod of one rank, placed on ``launch.node`` (of ``group``) with ``gpus`` GPUs."""
    name = names.pod_name(settings.name_prefix, launch.key)
    volumes, mounts = _rank_volumes(launch, settings)
    spec = _rank_pod_spec(launch, settings, name, group)
    spec["containers"] = [_rank_container(launch, settings, mounts, gpus)]
    spec["volumes"] = volumes
    spec["securityContext"] = pod_security(launch, settings)
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": settings.namespace,
            "labels": {
                **settings.extra_labels,
                **names.rank_labels(settings.instance, launch.key, launch.owner),
            },
            "annotations": _rank_annotations(launch, settings),
        },
        "spec": spec,
    }


def _rank_annotations(launch: RankLaunch, settings: PodSettings) -> dict[str, str]:
    """The suspend flag (the runner reads it through the downward API), owner, node, name."""
    annotations = {
        **settings.extra_annotations,
        names.SUSPEND_ANNOTATION: "0",
        names.OWNER_ANNOTATION: launch.owner,
        names.NODE_ANNOTATION: launch.node,
    }
    chain_name = launch.env.get("HAI_CHAIN_NAME")
    if chain_name:
        annotations[names.CHAIN_NAME_ANNOTATION] = chain_name
    return annotations


def _rank_volumes(
    launch: RankLaunch, settings: PodSettings
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pod's volumes and the container's mounts: the suspend flag (downward API), the
    control folder, /dev/shm, the site's storage and the haienv root."""
    suspend = f"metadata.annotations['{names.SUSPEND_ANNOTATION}']"
    podinfo = {"items": [{"path": "suspend", "fieldRef": {"fieldPath": suspend}}]}
    shm: dict[str, Any] = {"medium": "Memory"}
    if settings.shm_size:
        shm["sizeLimit"] = settings.shm_size
    volumes: list[dict[str, Any]] = [
        {"name": PODINFO_VOLUME, "downwardAPI": podinfo},
        {"name": CONTROL_VOLUME, "emptyDir": {}},
        {"name": SHM_VOLUME, "emptyDir": shm},
    ]
    mounts: list[dict[str, Any]] = [
        {"name": PODINFO_VOLUME, "mountPath": settings.podinfo_dir, "readOnly": True},
        {"name": CONTROL_VOLUME, "mountPath": settings.control_dir},
        {"name": SHM_VOLUME, "mountPath": "/dev/shm"},
    ]
    extra = list(settings.storage_mounts)
    if settings.env_root and settings.env_root_volume is not None:
        extra.append(settings.env_root_volume)
    for m in extra:
        volume, mount = m.render(launch.owner)
        volumes.append(volume)
        mounts.append(mount)
    return volumes, mounts


def _rank_container(
    launch: RankLaunch, settings: PodSettings, mounts: list[dict[str, Any]], gpus: int
) -> dict[str, Any]:
    """The rank's container: the runner around the rank's command, its environment."""
    command = [
        *settings.runner_command,
        *("--cwd", launch.workspace, "--podinfo", settings.podinfo_dir, "--"),
        *rank_argv(launch, settings.default_python),
    ]
    container: dict[str, Any] = {
        "name": names.CONTAINER_NAME,
        "image": settings.image,
        "imagePullPolicy": settings.image_pull_policy,
        "command": command,
        "env": [{"name": k, "value": v} for k, v in sorted(rank_env(launch, settings).items())],
        "volumeMounts": mounts,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "File",
    }
    resources = _resources(settings, gpus)
    if resources:
        container["resources"] = resources
    container["securityContext"] = container_security(settings.rdma)
    return container


def _rank_pod_spec(
    launch: RankLaunch, settings: PodSettings, name: str, group: str | None
) -> dict[str, Any]:
    """Where and how the pod runs: its DNS name in the job's service, placement,
    tolerations, and the site's service account, pull secrets, priority class, scheduler."""
    key = launch.key
    spec: dict[str, Any] = {
        "restartPolicy": "Never",
        "hostname": name,
        "subdomain": names.service_name(settings.name_prefix, key.chain_id, key.job_seq),
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "terminationGracePeriodSeconds": int(settings.termination_grace_seconds),
        **_placement(settings, launch.node, group),
    }
    tolerations = [*settings.tolerations]
    if group:
        tolerations.extend(settings.group_tolerations.get(group, ()))
    optional = {
        "tolerations": tolerations,
        "serviceAccountName": settings.service_account,
        "imagePullSecrets": [{"name": s} for s in settings.image_pull_secrets],
        "priorityClassName": settings.priority_class_name,
        "schedulerName": settings.scheduler_name,
    }
    spec.update({k: v for k, v in optional.items() if v})
    return spec


def job_service(
    settings: PodSettings, chain_id: int, job_seq: int, port: int | None = None
) -> dict[str, Any]:
    """The headless service that gives each rank of a job a DNS name (rank discovery)."""
    labels = {**settings.extra_labels, **names.job_labels(settings.instance, chain_id, job_seq)}
    spec: dict[str, Any] = {
        "clusterIP": "None",
        "publishNotReadyAddresses": True,  # ranks resolve each other before any readiness
        "selector": {
            **names.job_labels(settings.instance, chain_id, job_seq),
            names.COMPONENT_LABEL: "rank",
        },
    }
    if port:
        spec["ports"] = [{"name": "master", "port": int(port), "protocol": "TCP"}]
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": names.service_name(settings.name_prefix, chain_id, job_seq),
            "namespace": settings.namespace,
            "labels": labels,
        },
        "spec": spec,
    }
