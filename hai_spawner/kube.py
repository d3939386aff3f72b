"""HaiKubeSpawner: dev containers as pods, with the two HAI profiles.

A :class:`kubespawner.KubeSpawner` whose ``profile_list`` is built from traits
(:mod:`hai_spawner.profiles`):

- ``mig-gpu``: on a node labelled ``<prefix>_mars_group=<jupyter_group>``, exactly one MIG
  slice (``mig_resource``, e.g. ``nvidia.com/mig-1g.10gb``), CPU and memory limits;
- ``spot``: on a node of ``spot_group``, all its GPUs (``nvidia.com/gpu: 8``).

With ``use_inventory`` (the default) it asks the scheduler's inventory for the slice or
node before the pod is made — as the local spawner does — pins the pod to the node it got
(required node affinity on the node's name), and gives it back when the server stops, so
training never lands on a node a spot server holds and the lease culler can end servers.
The storage mounts use the same format as the scheduler's Kubernetes backend, so both
see the same home, public and environment folders. The pod runs as the user's uid/gid
from the scheduler's users table (the ids their rank pods run as), never as root, with no
privilege escalation, no capabilities and no service-account token.

Import it as ``hai_spawner.kube.HaiKubeSpawner`` (``hai_spawner`` itself does not import
kubespawner).
"""

from __future__ import annotations

import copy
from typing import Any

from kubespawner import KubeSpawner
from tornado import web
from traitlets import Dict, Float, Integer, List, Unicode, default

from hai_client.config import DEFAULT_PORT
from hai_client.devcontainers import JupyterGroupConfig
from hai_spawner.allocation import InventoryMixin
from hai_spawner.inventory import InventoryError
from hai_spawner.profiles import (
    MIG_GPU,
    SPOT,
    ProfileResources,
    kube_profile_list,
    storage_volumes,
)


class HaiKubeSpawner(InventoryMixin, JupyterGroupConfig, KubeSpawner):
    """KubeSpawner with the ``mig-gpu`` and ``spot`` profiles and the shared inventory."""

    # -- profiles ---------------------------------------------------------------------------
    label_prefix = Unicode("hai", help="Nodes are labelled <prefix>_mars_group=<group>.").tag(
        config=True
    )
    spot_group = Unicode("gpu", help="Training group spot servers take whole nodes from.").tag(
        config=True
    )
    mig_resource = Unicode(
        "nvidia.com/mig-1g.10gb", help="Extended resource of one MIG slice (the MIG profile)."
    ).tag(config=True)
    mig_count = Integer(1, help="MIG slices per mig-gpu server.").tag(config=True)
    mig_cpu_limit = Float(4.0, allow_none=True, help="CPU limit of a mig-gpu server.").tag(
        config=True
    )
    mig_cpu_guarantee = Float(1.0, allow_none=True, help="CPU request of a mig-gpu server.").tag(
        config=True
    )
    mig_mem_limit = Unicode("32G", allow_none=True, help="Memory limit of a mig-gpu server.").tag(
        config=True
    )
    mig_mem_guarantee = Unicode(
        "8G", allow_none=True, help="Memory request of a mig-gpu server."
    ).tag(config=True)
    spot_gpu_resource = Unicode("nvidia.com/gpu", help="Resource of a whole GPU.").tag(config=True)
    spot_gpus = Integer(8, help="GPUs of a spot server (a whole node).").tag(config=True)
    spot_cpu_limit = Float(None, allow_none=True, help="CPU limit of a spot server.").tag(
        config=True
    )
    spot_cpu_guarantee = Float(None, allow_none=True, help="CPU request of a spot server.").tag(
        config=True
    )
    spot_mem_limit = Unicode(None, allow_none=True, help="Memory limit of a spot server.").tag(
        config=True
    )
    spot_mem_guarantee = Unicode(
        None, allow_none=True, help="Memory request of a spot server."
    ).tag(config=True)
    group_tolerations = Dict(
        help="{group: [tolerations]}: added to the profile whose node group it is."
    ).tag(config=True)

    # -- storage ----------------------------------------------------------------------------
    storage_mounts = List(
        Dict(),
        help="{name, mount_path, host_path | pvc, sub_path, read_only}; '{user}' is the "
        "user's name (the format of KubernetesBackend.storage_mounts).",
    ).tag(config=True)
    env_root = Unicode("", help="haienv root in the pod (sets HAIENV_ROOT).").tag(config=True)
    env_root_volume = Dict(help="Volume of env_root: {host_path | pvc, read_only}.").tag(
        config=True
    )

    default_scheduler_url = f"http://hai-scheduler:{DEFAULT_PORT}/"  # the chart's Service

    # -- who the pod runs as -----------------------------------------------------------------
    @default("allow_privilege_escalation")
    def _default_allow_privilege_escalation(self) -> bool:
        return False

    @default("container_security_context")
    def _default_container_security_context(self) -> dict[str, Any]:
        return {"capabilities": {"drop": ["ALL"]}, "runAsNonRoot": True}

    @default("pod_security_context")
    def _default_pod_security_context(self) -> dict[str, Any]:
        return {"seccompProfile": {"type": "RuntimeDefault"}}

    @default("automount_service_account_token")
    def _default_automount_service_account_token(self) -> bool:
        return False

    async def start(self) -> Any:
        """Run as the user's ids from the scheduler's users table (refused without)."""
        if self.use_inventory:
            try:
                ids = await self.inventory.account(self.user.name)
            except InventoryError as exc:
                raise web.HTTPError(409, f"Cannot start {self.user.name}'s server: {exc}") from None
            self.uid, self.gid = ids["uid"], ids["gid"]
            self.fs_gid = ids["gid"]
        return await super().start()

    # -- derived kubespawner settings -------------------------------------------------------
    def profile_resources(self) -> dict[str, ProfileResources]:
        return {
            MIG_GPU: ProfileResources(
                group=self.jupyter_group,
                gpu_resource=self.mig_resource,
                gpu_count=self.mig_count,
                cpu_limit=self.mig_cpu_limit,
                cpu_guarantee=self.mig_cpu_guarantee,
                mem_limit=self.mig_mem_limit,
                mem_guarantee=self.mig_mem_guarantee,
                tolerations=tuple(self.group_tolerations.get(self.jupyter_group, ())),
            ),
            SPOT: ProfileResources(
                group=self.spot_group,
                gpu_resource=self.spot_gpu_resource,
                gpu_count=self.spot_gpus,
                cpu_limit=self.spot_cpu_limit,
                cpu_guarantee=self.spot_cpu_guarantee,
                mem_limit=self.spot_mem_limit,
                mem_guarantee=self.spot_mem_guarantee,
                tolerations=tuple(self.group_tolerations.get(self.spot_group, ())),
            ),
        }

    @default("profile_list")
    def _default_profile_list(self) -> list[dict[str, Any]]:
        return kube_profile_list(self.profiles, self.profile_resources(), self.label_prefix)

    def _mounts(self) -> list[dict[str, Any]]:
        mounts = list(self.storage_mounts)
        if self.env_root and self.env_root_volume:
            mounts.append({"name": "hai-envs", "mount_path": self.env_root, **self.env_root_volume})
        return mounts

    @default("volumes")
    def _default_volumes(self) -> list[dict[str, Any]]:
        return storage_volumes(self._mounts())[0]

    @default("volume_mounts")
    def _default_volume_mounts(self) -> list[dict[str, Any]]:
        return storage_volumes(self._mounts())[1]

    # -- the pod ------------------------------------------------------------------------------
    def get_env(self) -> dict[str, str]:
        env = super().get_env()
        env.update(self.allocation_env())
        if self.env_root:
            env["HAIENV_ROOT"] = self.env_root
        return env

    async def get_pod_manifest(self) -> Any:
        """kubespawner's pod, pinned to the allocated node when there is an allocation."""
        if self.allocation is None:
            return await super().get_pod_manifest()
        base = self.node_affinity_required
        pin = {"key": "metadata.name", "operator": "In", "values": [self.allocation.node]}
        terms = copy.deepcopy(list(base)) or [{}]
        for term in terms:  # terms are ORed: the pin goes into each
            term.setdefault("matchFields", []).append(pin)
        self.node_affinity_required = terms
        try:
            return await super().get_pod_manifest()
        finally:
            self.node_affinity_required = base
