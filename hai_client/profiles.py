"""The two dev-container profiles: their one home.

- ``mig-gpu`` (:data:`MIG_GPU`): one MIG slice on a node of the jupyter group, with a lease;
- ``spot`` (:data:`SPOT`): a whole idle training node, reclaimed when training needs it.

Constants only, so that ``hai-cli`` (which shows who occupies a node) can use them without
importing traitlets; :mod:`hai_client.devcontainers` adds what the services configure.
The lab's TypeScript checks its uses against the API's generated enum of these names.
"""

from __future__ import annotations

MIG_GPU = "mig-gpu"
SPOT = "spot"
#: every profile, in the order of the spawn form
PROFILES = (MIG_GPU, SPOT)
