"""What the scheduler service and the hub's spawners must agree on about dev containers:
the two profile names (defined in :mod:`hai_client.profiles`, re-exported here) and the
node group whose MIG slices ``mig-gpu`` servers share.

The spawners (``hai_spawner``) must not import the scheduler, and the scheduler may import
``hai_client``, so this is their one home. :class:`JupyterGroupConfig` holds the group's
trait; the classes that need it (``HaiKubeSpawner``, ``DevServerManager``,
``LocalBackend``) inherit it, so ``c.<Class>.jupyter_group`` keeps working for each and
``c.JupyterGroupConfig.jupyter_group`` sets all of them in one config file.
"""

from __future__ import annotations

from traitlets import Unicode
from traitlets.config import Configurable

from hai_client.profiles import MIG_GPU, PROFILES, SPOT

__all__ = ["MIG_GPU", "PROFILES", "SPOT", "JupyterGroupConfig"]


class JupyterGroupConfig(Configurable):
    """The ``jupyter_group`` trait, mixed into every class that needs it."""

    jupyter_group = Unicode(
        "jupyter",
        help="Node group of the dev-container nodes, whose GPUs (MIG slices) mig-gpu servers "
        "share; the local backend names its default MIG node's group so.",
    ).tag(config=True)
