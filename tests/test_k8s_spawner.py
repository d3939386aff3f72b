"""HaiKubeSpawner: the mig-gpu and spot profiles rendered by kubespawner as pod manifests
(``get_pod_manifest()``, no cluster needed) and validated against the Kubernetes schema."""

from __future__ import annotations

import asyncio
import types

import pytest

from tests.k8s_fixtures.support import need, use_dummy_kubeconfig, validate

MOUNTS = [
    {"name": "home", "pvc": "hai-homes", "sub_path": "{user}", "mount_path": "/home/{user}"},
    {"name": "public", "host_path": "/mnt/public", "mount_path": "/public", "read_only": True},
]


@pytest.fixture(scope="module")
def kube_spawner_cls(tmp_path_factory):
    need("kubespawner")
    mp = pytest.MonkeyPatch()
    use_dummy_kubeconfig(mp, tmp_path_factory.mktemp("kube"))
    from hai_spawner.kube import HaiKubeSpawner

    yield HaiKubeSpawner
    mp.undo()


def make(cls, **traits):
    from traitlets.config import Config

    cfg = Config()
    cfg.HaiKubeSpawner.image = "registry.example.org/hai/singleuser:0.1.0"
    cfg.HaiKubeSpawner.storage_mounts = MOUNTS
    cfg.HaiKubeSpawner.env_root = "/shared/envs"
    cfg.HaiKubeSpawner.env_root_volume = {"pvc": "hai-envs", "read_only": True}
    cfg.HaiKubeSpawner.group_tolerations = {
        "gpu": [{"key": "hai/training", "operator": "Exists", "effect": "NoSchedule"}]
    }
    for k, v in traits.items():
        setattr(cfg.HaiKubeSpawner, k, v)
    user = types.SimpleNamespace(name="alice@example.org", id=7, url="/user/alice@example.org/")
    return cls(_mock=True, config=cfg, user=user)


async def manifest(spawner, profile, allocation=None):
    spawner.user_options = {"profile": profile}
    await spawner.load_user_options()
    spawner.allocation = allocation
    pod = await spawner.get_pod_manifest()
    return spawner.api.api_client.sanitize_for_serialization(pod)


def run(coro):
    async def and_close():
        try:
            return await coro
        finally:
            from kubespawner.clients import shared_client

            await shared_client("CoreV1Api").api_client.close()

    return asyncio.run(and_close())


def test_mig_gpu_profile_pod(kube_spawner_cls):
    async def go():
        s = make(kube_spawner_cls)
        return await manifest(s, "mig-gpu")

    pod = run(go())
    validate(pod)
    spec = pod["spec"]
    (c,) = spec["containers"]
    assert c["resources"]["limits"] == {
        "cpu": 4.0,
        "memory": 32 << 30,
        "nvidia.com/mig-1g.10gb": "1",
    }
    assert c["resources"]["requests"] == {"cpu": 1.0, "memory": 8 << 30}
    assert spec["nodeSelector"] == {"hai_mars_group": "jupyter"}
    assert "nvidia.com/gpu" not in c["resources"]["limits"]
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HAI_PROFILE"] == "mig-gpu" and env["HAIENV_ROOT"] == "/shared/envs"
    vols = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in c["volumeMounts"]}
    assert vols["home"]["persistentVolumeClaim"]["claimName"] == "hai-homes"
    assert mounts["home"]["subPath"] == "alice@example.org"
    assert mounts["home"]["mountPath"] == "/home/alice@example.org"
    assert mounts["public"]["readOnly"] is True
    assert mounts["hai-envs"]["mountPath"] == "/shared/envs"


def test_spot_profile_pod_pinned_to_the_allocated_node(kube_spawner_cls):
    from hai_spawner.inventory import Allocation

    async def go():
        s = make(kube_spawner_cls)
        alloc = Allocation("spot", "gpu-node-07", tuple(str(i) for i in range(8)), None)
        pinned = await manifest(s, "spot", alloc)
        again = await manifest(s, "spot", alloc)  # the pin does not pile up
        return pinned, again, s.node_affinity_required

    pod, again, after = run(go())
    validate(pod)
    spec = pod["spec"]
    (c,) = spec["containers"]
    assert c["resources"]["limits"] == {"nvidia.com/gpu": "8"}
    assert spec["nodeSelector"] == {"hai_mars_group": "gpu"}
    assert {"key": "hai/training", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    (term,) = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"
    ]
    assert term["matchFields"] == [
        {"key": "metadata.name", "operator": "In", "values": ["gpu-node-07"]}
    ]
    assert again["spec"]["affinity"] == spec["affinity"] and after == []
    env = {e["name"]: e.get("value") for e in c["env"]}
    assert env["HAI_NODE"] == "gpu-node-07" and env["HAI_PROFILE"] == "spot"


def test_configured_mig_profile_and_limits(kube_spawner_cls):
    async def go():
        s = make(
            kube_spawner_cls,
            mig_resource="nvidia.com/mig-3g.40gb",
            mig_cpu_limit=8.0,
            mig_mem_limit="64G",
            jupyter_group="notebooks",
            label_prefix="acme",
        )
        return await manifest(s, "mig-gpu")

    pod = run(go())
    validate(pod)
    limits = pod["spec"]["containers"][0]["resources"]["limits"]
    assert limits["nvidia.com/mig-3g.40gb"] == "1" and limits["memory"] == 64 << 30
    assert pod["spec"]["nodeSelector"] == {"acme_mars_group": "notebooks"}


def test_start_takes_and_stop_gives_back_the_inventory(kube_spawner_cls, monkeypatch):
    from kubespawner import KubeSpawner

    from hai_spawner.inventory import Allocation

    calls = []

    class FakeInventory:
        async def account(self, user):
            calls.append(("account", user))
            return {"user": user, "name": None, "uid": 100007, "gid": 100007}

        async def allocate(self, user, server, profile):
            calls.append(("allocate", user, profile))
            return Allocation(profile, "jup-0", ("mig-1g.10gb-3",), "2025-03-05T10:00:00Z")

        async def release(self, user, server):
            calls.append(("release", user))
            return True

    async def fake_start(self):
        calls.append(("pod", self.allocation.node, self.uid, self.fs_gid))
        return "http://10.0.0.5:8888"

    async def fake_stop(self, now=False):
        calls.append(("stop pod",))

    monkeypatch.setattr(KubeSpawner, "start", fake_start)
    monkeypatch.setattr(KubeSpawner, "stop", fake_stop)
    monkeypatch.setattr(kube_spawner_cls, "inventory", property(lambda self: FakeInventory()))

    async def go():
        s = make(kube_spawner_cls)
        s.user_options = {"profile": "mig-gpu"}
        url = await s.start()
        state = s.get_state()
        await s.stop()
        return url, state, s.allocation

    url, state, after = run(go())
    assert url == "http://10.0.0.5:8888"
    assert state["hai_allocation"]["node"] == "jup-0"
    assert after is None
    assert calls == [
        ("account", "alice@example.org"),
        ("allocate", "alice@example.org", "mig-gpu"),
        ("pod", "jup-0", 100007, 100007),
        ("stop pod",),
        ("release", "alice@example.org"),
    ]


def test_profiles_module_needs_no_kubespawner():
    from hai_spawner.profiles import storage_volumes

    vols, _mounts = storage_volumes(
        [{"name": "x", "host_path": "/d/{user}/{x}", "mount_path": "/x"}]
    )
    assert vols[0]["hostPath"]["path"] == "/d/{unescaped_username}/{{x}}"
    with pytest.raises(ValueError):
        storage_volumes([{"name": "x", "mount_path": "/x"}])


def test_dev_container_runs_as_the_users_ids_never_root(kube_spawner_cls):
    async def go():
        s = make(kube_spawner_cls)
        s.uid, s.gid, s.fs_gid = 100007, 100007, 100007  # what start() takes from the scheduler
        return await manifest(s, "mig-gpu")

    pod = run(go())
    validate(pod)
    spec = pod["spec"]
    (c,) = spec["containers"]
    assert c["securityContext"]["runAsUser"] == 100007
    assert c["securityContext"]["runAsGroup"] == 100007
    assert c["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert spec["securityContext"]["fsGroup"] == 100007
    assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert spec["automountServiceAccountToken"] is False
