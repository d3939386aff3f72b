"""What the scheduler service and the hub's spawners must agree on about dev containers:
the two profile names and the node group whose MIG slices ``mig-gpu`` servers share.

- ``mig-gpu`` (:data:`MIG_GPU`): one MIG slice on a node of the jupyter group, with a lease;
- ``spot`` (:data:`SPOT`): a whole idle training node, reclaimed when training needs it.

The spawners (``hai_spawner``) must not import the scheduler, and the scheduler may import
``hai_client``, so this is their one home. :class:`JupyterGroupConfig` holds the group's
trait; the classes that need it (``HaiKubeSpawner``, ``DevServerManager``,
``LocalBackend``) inherit it, so ``c.<Class>.jupyter_group`` keeps working for each and
``c.JupyterGroupConfig.jupyter_group`` sets all of them in one config file.
"""

from __future__ import annotations

from traitlets import Unicode
from traitlets.config import Configurable

MIG_GPU = "mig-gpu"
SPOT = "spot"
#: every profile, in the order of the spawn form
PROFILES = (MIG_GPU, SPOT)


class JupyterGroupConfig(Configurable):
    """The ``jupyter_group`` trait, mixed into every class that needs it."""

    jupyter_group = Unicode(
        "jupyter",
        help="Node group of the dev-container nodes, whose GPUs (MIG slices) mig-gpu servers "
        "share; the local backend names its default MIG node's group so.",
    ).tag(config=True)
