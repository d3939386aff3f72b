"""The Kubernetes backend's configuration: traits, set as ``c.KubernetesBackend.<name>``.

:class:`KubernetesSettings` holds every trait; :meth:`KubernetesSettings.pod_settings`
turns them into the plain :class:`~.manifests.PodSettings` the pure manifest functions take.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from traitlets import Any as AnyTrait
from traitlets import Bool, CaselessStrEnum, Dict, Float, Integer, List, Unicode, default

from scheduler.backends.base import Backend
from scheduler.backends.kubernetes.manifests import (
    ENV_ROOT_VOLUME,
    PodSettings,
    StorageMount,
    parse_mounts,
)

SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class KubernetesSettings(Backend):
    """Traits of :class:`~.backend.KubernetesBackend` (configure them under that name)."""

    # -- where and as whom ------------------------------------------------------------------
    namespace = Unicode(
        help="Namespace of the rank pods (default: the scheduler's own namespace in a "
        "cluster, else 'default')."
    ).tag(config=True)

    @default("namespace")
    def _default_namespace(self) -> str:
        try:
            return Path(SA_NAMESPACE_FILE).read_text().strip() or "default"
        except OSError:
            return "default"

    kubeconfig = Unicode(
        "", help="kubeconfig file outside a cluster (default: $KUBECONFIG or ~/.kube/config)."
    ).tag(config=True)
    kube_context = Unicode("", help="kubeconfig context (default: the current one).").tag(
        config=True
    )
    api = AnyTrait(
        None,
        allow_none=True,
        help="An object implementing client.KubeApi to use instead of the official client "
        "(tests pass a fake).",
    ).tag(config=True)
    instance = Unicode(
        "hai",
        help="Label value (hai.io/instance) scoping the pods of this scheduler; give each "
        "installation sharing a namespace its own.",
    ).tag(config=True)
    name_prefix = Unicode("hai", help="Pods are <prefix>-<chain>-<job>-<rank>.").tag(config=True)
    data_dir = Unicode("", help="Where finished pods' logs are archived (set by the app).").tag(
        config=True
    )

    # -- the rank pod ---------------------------------------------------------------------
    image = Unicode(
        "ghcr.io/hai-hub/hai-singleuser:0.1.0",
        help="Image of rank containers: it must have python3 and this package "
        "(for the in-pod supervisor) and the shared base environment.",
    ).tag(config=True)
    image_pull_policy = CaselessStrEnum(
        ["Always", "IfNotPresent", "Never"], "IfNotPresent", help="imagePullPolicy."
    ).tag(config=True)
    image_pull_secrets = List(Unicode(), help="Names of image pull secrets.").tag(config=True)
    runner_command = List(
        Unicode(),
        ["python3", "-m", "scheduler.backends.kubernetes.rankrun"],
        help="How the image starts the in-pod supervisor.",
    ).tag(config=True)
    default_python = Unicode(
        "python3", help="Interpreter of .py entrypoints of chains without a haienv."
    ).tag(config=True)
    service_account = Unicode("", help="Service account of rank pods ('' = default).").tag(
        config=True
    )
    priority_class_name = Unicode("", help="priorityClassName of rank pods.").tag(config=True)
    scheduler_name = Unicode("", help="schedulerName of rank pods ('' = default).").tag(config=True)
    extra_env = Dict(help="Extra environment variables of every rank.").tag(config=True)
    extra_labels = Dict(help="Extra labels of rank pods and services.").tag(config=True)
    extra_annotations = Dict(help="Extra annotations of rank pods.").tag(config=True)
    user_ids = Dict(
        help="{user: [uid, gid]}: run that user's ranks with these ids (runAsUser/Group); "
        "users not listed run as the image's user."
    ).tag(config=True)
    termination_grace_seconds = Integer(
        None,
        allow_none=True,
        help="terminationGracePeriodSeconds of rank pods: SIGTERM → SIGKILL "
        "(default: SchedulerApp.stop_grace_seconds, rounded up).",
    ).tag(config=True)

    # -- placement and resources ----------------------------------------------------------
    node_label_prefix = Unicode(
        "hai", help="Nodes are labelled <prefix>_mars_group=<group>, as in HAI."
    ).tag(config=True)
    placement = CaselessStrEnum(
        ["affinity", "node_name"],
        "affinity",
        help="'affinity': required node affinity on the node's name and group (the "
        "scheduler reports unschedulable pods); 'node_name': bind with spec.nodeName.",
    ).tag(config=True)
    tolerations = List(Dict(), help="Tolerations of every rank pod.").tag(config=True)
    group_tolerations = Dict(help="{group: [tolerations]} added for ranks on that group.").tag(
        config=True
    )
    gpu_resource = Unicode("nvidia.com/gpu", help="Extended resource of a whole GPU.").tag(
        config=True
    )
    default_gpus_per_node = Integer(
        8, help="GPUs requested when a node's count is unknown and the chain asks for all."
    ).tag(config=True)
    has_rdma_hca_resource = Bool(
        False, help="Request the RDMA resource (HAI's HAS_RDMA_HCA_RESOURCE) and IPC_LOCK."
    ).tag(config=True)
    rdma_resource = Unicode("rdma/hca", help="Name of the RDMA device plugin's resource.").tag(
        config=True
    )
    rdma_count = Integer(1, help="How many of the RDMA resource each rank requests.").tag(
        config=True
    )
    cpu_request = Unicode("", help="CPU request of a rank, e.g. '32' ('' = none).").tag(config=True)
    cpu_limit = Unicode("", help="CPU limit of a rank ('' = none).").tag(config=True)
    memory_request = Unicode("", help="Memory request of a rank, e.g. '512Gi'.").tag(config=True)
    memory_limit = Unicode("", help="Memory limit of a rank ('' = none).").tag(config=True)
    shm_size = Unicode("", help="Size limit of the memory-backed /dev/shm ('' = none).").tag(
        config=True
    )
    static_nodes = List(
        Dict(),
        help="[{'name', 'group', 'gpus'}]: use these nodes instead of listing the labelled "
        "nodes (when the scheduler may not read nodes).",
    ).tag(config=True)

    # -- storage --------------------------------------------------------------------------
    storage_mounts = List(
        Dict(),
        help="Mounts of every rank: {name, mount_path, host_path | pvc, sub_path, read_only}; "
        "'{user}' in paths, claim and sub_path is the chain's owner (per-user mounts).",
    ).tag(config=True)
    env_root = Unicode(
        "", help="Root of the haienv environments as seen in pods (sets HAIENV_ROOT)."
    ).tag(config=True)
    env_root_volume = Dict(
        help="Volume of env_root: {host_path | pvc, sub_path, read_only}; empty when a "
        "storage mount covers it already."
    ).tag(config=True)
    control_dir = Unicode("/var/run/hai/control", help="HAI_CONTROL_DIR in rank pods.").tag(
        config=True
    )
    podinfo_dir = Unicode(
        "/var/run/hai/podinfo", help="Mount of the downward-API volume with 'suspend'."
    ).tag(config=True)

    # -- watching and housekeeping -----------------------------------------------------------
    watch_thread = Bool(
        True, help="Follow pods in a background thread (tests drive the watch themselves)."
    ).tag(config=True)
    watch_timeout_seconds = Integer(300, help="Server-side timeout of one watch request.").tag(
        config=True
    )
    resync_seconds = Float(900.0, help="A full list of the pods at least this often.").tag(
        config=True
    )
    first_sync_timeout = Float(
        20.0, help="How long the first poll waits for the first list of pods."
    ).tag(config=True)
    build_timeout_seconds = Float(
        900.0,
        help="A rank stuck on an image pull or container config error this long fails "
        "with init_failed.",
    ).tag(config=True)
    sweep_seconds = Float(
        30.0, help="Orphan and finished pods are cleaned up this often (0 = never by itself)."
    ).tag(config=True)
    force_delete_after_seconds = Float(
        300.0,
        help="A pod still terminating this long after its deletion deadline (its node is "
        "lost) is deleted with grace 0 (0 = never).",
    ).tag(config=True)
    archive_logs = Bool(
        True, help="Copy a finished pod's log under data_dir/logs before deleting it."
    ).tag(config=True)

    # -- derived --------------------------------------------------------------------------
    def grace_seconds(self) -> int:
        if self.termination_grace_seconds is not None:
            return int(self.termination_grace_seconds)
        stop_grace = getattr(self.parent, "stop_grace_seconds", None)
        return math.ceil(stop_grace) if stop_grace is not None else 30

    def pod_settings(self) -> PodSettings:
        """The traits as the plain data :mod:`.manifests` takes (validated)."""
        env_root_volume = None
        if self.env_root and self.env_root_volume:
            env_root_volume = StorageMount.parse(
                {"name": ENV_ROOT_VOLUME, "mount_path": self.env_root, **self.env_root_volume}
            )
        user_ids: dict[str, tuple[int, int | None]] = {}
        for user, ids in self.user_ids.items():
            seq: list[Any] = list(ids) if isinstance(ids, list | tuple) else [ids]
            user_ids[str(user)] = (int(seq[0]), int(seq[1]) if len(seq) > 1 else None)
        return PodSettings(
            namespace=self.namespace,
            image=self.image,
            instance=self.instance,
            name_prefix=self.name_prefix,
            image_pull_policy=self.image_pull_policy,
            image_pull_secrets=tuple(self.image_pull_secrets),
            node_label_prefix=self.node_label_prefix,
            placement=self.placement,
            tolerations=tuple(dict(t) for t in self.tolerations),
            group_tolerations={str(k): list(v) for k, v in self.group_tolerations.items()},
            gpu_resource=self.gpu_resource,
            rdma=self.has_rdma_hca_resource,
            rdma_resource=self.rdma_resource,
            rdma_count=self.rdma_count,
            cpu_request=self.cpu_request,
            cpu_limit=self.cpu_limit,
            memory_request=self.memory_request,
            memory_limit=self.memory_limit,
            shm_size=self.shm_size,
            storage_mounts=parse_mounts(self.storage_mounts),
            env_root=self.env_root,
            env_root_volume=env_root_volume,
            service_account=self.service_account,
            termination_grace_seconds=self.grace_seconds(),
            runner_command=tuple(self.runner_command),
            default_python=self.default_python,
            control_dir=self.control_dir,
            podinfo_dir=self.podinfo_dir,
            extra_env={str(k): str(v) for k, v in self.extra_env.items()},
            extra_labels={str(k): str(v) for k, v in self.extra_labels.items()},
            extra_annotations={str(k): str(v) for k, v in self.extra_annotations.items()},
            priority_class_name=self.priority_class_name,
            scheduler_name=self.scheduler_name,
            user_ids=user_ids,
        )
