"""Shared by the Kubernetes tests: the pinned schema versions, a throw-away kubeconfig, and
``need()`` for the tools these tests use (a missing one fails: `make install` brings them all)."""

from __future__ import annotations

import importlib
from types import ModuleType

import pytest

#: the version every generated manifest is validated against, and the oldest the chart
#: supports (Chart.yaml kubeVersion); both schemas ship inside kubernetes-validate
K8S_VERSION = "1.31.0"
K8S_VERSIONS = ("1.27.0", K8S_VERSION)

#: kubespawner loads a kubeconfig whenever a spawner is made; this one is never contacted
KUBECONFIG = """\
apiVersion: v1
kind: Config
clusters:
- name: none
  cluster: {server: "https://127.0.0.1:9"}
users:
- name: none
  user: {token: "not-used"}
contexts:
- name: none
  context: {cluster: none, user: none, namespace: hai}
current-context: none
"""


def use_dummy_kubeconfig(mp: pytest.MonkeyPatch, folder) -> None:
    """Point kubespawner's client at :data:`KUBECONFIG` (the default location is read when
    kubernetes_asyncio is imported, so the module constant is patched too)."""
    path = folder / "kubeconfig"
    path.write_text(KUBECONFIG)
    mp.setenv("KUBECONFIG", str(path))
    kube_config = need("kubernetes_asyncio.config.kube_config")
    mp.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


def missing(what: str) -> None:
    """Fail: every tool here comes with `make install` (kubernetes from [kubernetes],
    kubernetes_asyncio from [hub], kubernetes-validate from [test], helm through
    scripts/get-helm.sh), so a missing one is a broken install, never a reason to skip."""
    pytest.fail(f"{what} (make install provides it)")


def need(module: str) -> ModuleType:
    try:
        return importlib.import_module(module)
    except ImportError:
        missing(f"{module} is not installed")
        raise  # not reached


def validate(obj: dict, version: str = K8S_VERSION) -> None:
    """Strict schema validation (an unknown field such as ``nodeSelecter`` fails)."""
    need("kubernetes_validate").validate(obj, version, strict=True)
