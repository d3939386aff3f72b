"""Names of quota resources: ``node-<group>-<PRIORITY>`` and the total ``node`` (one rule)."""

from __future__ import annotations

import re

from scheduler.model.enums import Priority

#: Resource name of the total-nodes quota (all groups, all priorities).
TOTAL_NODES = "node"

_RESOURCE = re.compile(r"^node(-(?P<group>.+)-(?P<prio>[A-Z_]+))?$")


def quota_resource(group: str, priority: int) -> str:
    """Name of the per-priority node quota, e.g. ``node-gpu-HIGH``.

    ``priority`` is a :class:`Priority` value (0..6); ValueError otherwise.
    """
    return f"node-{group}-{Priority(priority).name}"


def check_quota_resource(resource: str) -> str:
    """Return ``resource`` if it is a valid quota name; ValueError naming the rule otherwise."""
    m = _RESOURCE.fullmatch(resource)
    if not m or (m.group("prio") and m.group("prio") not in Priority.__members__):
        raise ValueError(
            f"invalid quota resource {resource!r}: use 'node' or 'node-<group>-<PRIORITY>' "
            f"with PRIORITY one of {Priority.names()}"
        )
    return resource


def default_key(resource: str) -> str:
    """Key of the default-quota table for a resource: the PRIORITY NAME or ``node``."""
    if resource == TOTAL_NODES:
        return TOTAL_NODES
    if resource.startswith("node-"):
        # Group names may contain '-', priority names never do (they use '_').
        return resource.rsplit("-", 1)[1]
    return resource
