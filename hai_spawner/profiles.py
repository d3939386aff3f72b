"""The dev-container profiles as plain data, and their Kubernetes pod settings.

Two profiles, as in the spawn form of every HAI spawner:

- ``mig-gpu``: a server on a node of the jupyter group, shared by many users, bound to
  exactly one MIG slice (an extended resource such as ``nvidia.com/mig-1g.10gb``), with
  CPU and memory limits;
- ``spot``: a whole idle training node (``nvidia.com/gpu: 8``) of a training group.

:func:`kube_profile_list` renders them as kubespawner ``profile_list`` entries (the
``kubespawner_override`` of each); :func:`storage_volumes` renders the storage mounts shared
with the scheduler's Kubernetes backend (same dict format) as kubespawner volumes. Nothing
here imports kubespawner or jupyterhub.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hai_client.devcontainers import MIG_GPU, SPOT

DEFAULT_PROFILES: list[dict[str, Any]] = [
    {
        "slug": MIG_GPU,
        "display_name": "MIG GPU",
        "description": "One MIG slice on a shared node. 24 h lease, renewable while active.",
        "default": True,
    },
    {
        "slug": SPOT,
        "display_name": "Spot node",
        "description": "A whole idle training node with all its GPUs. No fixed lifetime; "
        "reclaimed (after a warning) when training needs the node.",
    },
]


@dataclass(frozen=True, slots=True)
class ProfileResources:
    """What a profile's pod gets: node group, GPU resource and count, CPU/memory."""

    group: str
    gpu_resource: str
    gpu_count: int
    cpu_limit: float | None = None
    cpu_guarantee: float | None = None
    mem_limit: str | None = None
    mem_guarantee: str | None = None
    tolerations: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def group_label(prefix: str) -> str:
    """The node label naming a node's group (``<prefix>_mars_group``, as in HAI)."""
    return f"{prefix}_mars_group"


def kubespawner_override(res: ProfileResources, label_prefix: str, slug: str) -> dict[str, Any]:
    """The kubespawner trait values of one profile."""
    override: dict[str, Any] = {
        "extra_resource_limits": {res.gpu_resource: str(res.gpu_count)},
        "node_selector": {group_label(label_prefix): res.group},
        "environment": {"HAI_PROFILE": slug},
    }
    if res.tolerations:
        override["tolerations"] = [dict(t) for t in res.tolerations]
    for trait in ("cpu_limit", "cpu_guarantee", "mem_limit", "mem_guarantee"):
        value = getattr(res, trait)
        if value is not None:
            override[trait] = value
    return override


def kube_profile_list(
    profiles: Iterable[Mapping[str, Any]],
    resources: Mapping[str, ProfileResources],
    label_prefix: str,
) -> list[dict[str, Any]]:
    """kubespawner ``profile_list`` entries: the profiles' texts + their pod settings."""
    out = []
    for p in profiles:
        slug = p["slug"]
        if slug not in resources:
            raise ValueError(f"profile {slug!r} has no resources; known: {sorted(resources)}")
        entry = {k: v for k, v in p.items() if k in ("slug", "display_name", "description")}
        entry.setdefault("display_name", slug)
        if p.get("default"):
            entry["default"] = True
        entry["kubespawner_override"] = kubespawner_override(resources[slug], label_prefix, slug)
        out.append(entry)
    return out


def _template(text: str) -> str:
    """Our ``{user}`` as kubespawner's ``{unescaped_username}``; other braces kept."""
    return text.replace("{", "{{").replace("}", "}}").replace("{{user}}", "{unescaped_username}")


def storage_volumes(
    mounts: Iterable[Mapping[str, Any]],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volume_mounts) for kubespawner from storage mount dicts.

    A mount is ``{name, mount_path, host_path | pvc, sub_path, read_only, host_path_type}``
    — the format of ``KubernetesBackend.storage_mounts`` — and ``{user}`` is the user's
    name, so one entry gives every user their own folder.
    """
    volumes: list[dict[str, Any]] = []
    volume_mounts: list[dict[str, Any]] = []
    for m in mounts:
        name = str(m["name"])
        host, claim = m.get("host_path"), m.get("pvc")
        if bool(host) == bool(claim):
            raise ValueError(f"storage mount {name!r}: give exactly one of host_path or pvc")
        volume: dict[str, Any] = {"name": name}
        if host:
            volume["hostPath"] = {
                "path": _template(str(host)),
                "type": str(m.get("host_path_type", "Directory")),
            }
        else:
            volume["persistentVolumeClaim"] = {"claimName": _template(str(claim))}
        mount: dict[str, Any] = {"name": name, "mountPath": _template(str(m["mount_path"]))}
        if m.get("sub_path"):
            mount["subPath"] = _template(str(m["sub_path"]))
        if m.get("read_only"):
            mount["readOnly"] = True
        volumes.append(volume)
        volume_mounts.append(mount)
    return volumes, volume_mounts
