"""The Helm chart's metrics options: ServiceMonitor, scrape annotations, Grafana dashboard.

Rendered with the real helm binary (as tests/test_k8s_helm.py). Every object is validated
with kubernetes-validate, except the ServiceMonitor: it is a Prometheus Operator CRD that
kubernetes-validate has no schema for, so its fields are checked here against the
scheduler's Service and the path the scheduler really serves.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from scheduler.service.web import api_root
from tests.k8s_fixtures.support import K8S_VERSIONS, validate
from tests.test_k8s_helm import (  # noqa: F401 (helm: the fixture, used through `cmd`)
    CHART,
    _config_files,
    _load,
    by_kind,
    helm,
    render,
    run_helm,
)

DASHBOARD = CHART / "dashboards" / "hai-hub.json"
MONITORED = {
    "metrics": {
        "serviceMonitor": {
            "enabled": True,
            "labels": {"release": "kube-prometheus"},
            "tokenSecret": {"name": "hai-metrics-token", "key": "token"},
        },
        "grafanaDashboard": {"enabled": True, "namespace": "monitoring"},
    }
}
ANNOTATED = {"metrics": {"authenticate": False, "annotations": True}}


@pytest.fixture
def cmd(request: pytest.FixtureRequest) -> list[str]:
    """tests/test_k8s_helm.py's helm command (its fixture, under another name here)."""
    return request.getfixturevalue("helm")


def _scheduler_metrics_path(objs: list[dict]) -> str:
    """Where the rendered scheduler serves /metrics: its base_url + api/v1/metrics."""
    deployment = by_kind(objs)[("Deployment", "hai-hai-hub-scheduler")]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    return api_root(env["JUPYTERHUB_SERVICE_PREFIX"]) + "/metrics"


def test_metrics_objects_are_off_by_default(cmd, tmp_path: Path) -> None:
    objs = render(cmd, tmp_path, {})
    assert not any(o["kind"] == "ServiceMonitor" for o in objs)
    assert ("ConfigMap", "hai-hai-hub-grafana-dashboard") not in by_kind(objs)
    service = by_kind(objs)[("Service", "hai-hai-hub-scheduler")]
    assert "annotations" not in service["metadata"]
    cfg = _load(_config_files(objs, "hai-hai-hub-scheduler", tmp_path), "hai_scheduler_config.py")
    assert cfg.SchedulerMetrics.authenticate_prometheus is True


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_service_monitor_scrapes_the_scheduler_with_a_token(cmd, tmp_path, version) -> None:
    objs = render(cmd, tmp_path, MONITORED, version)
    for obj in objs:
        if obj["kind"] != "ServiceMonitor":
            validate(obj, version)
    (monitor,) = [o for o in objs if o["kind"] == "ServiceMonitor"]
    service = by_kind(objs)[("Service", "hai-hai-hub-scheduler")]
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus"
    spec = monitor["spec"]
    selector = spec["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert spec["namespaceSelector"] == {"matchNames": ["hai"]}
    (endpoint,) = spec["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == _scheduler_metrics_path(objs)
    assert endpoint["authorization"] == {
        "type": "Bearer",
        "credentials": {"name": "hai-metrics-token", "key": "token"},
    }
    assert endpoint["interval"] == "30s" and endpoint["scrapeTimeout"] == "10s"


def test_grafana_dashboard_configmap_carries_the_dashboard(cmd, tmp_path) -> None:
    objs = by_kind(render(cmd, tmp_path, MONITORED))
    cm = objs[("ConfigMap", "hai-hai-hub-grafana-dashboard")]
    assert cm["metadata"]["namespace"] == "monitoring"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["hai-hub.json"]) == json.loads(DASHBOARD.read_text())


def test_scrape_annotations_without_authentication(cmd, tmp_path) -> None:
    objs = render(cmd, tmp_path, ANNOTATED)
    service = by_kind(objs)[("Service", "hai-hai-hub-scheduler")]
    assert service["metadata"]["annotations"] == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(service["spec"]["ports"][0]["port"]),
        "prometheus.io/path": _scheduler_metrics_path(objs),
    }
    validate(service)
    cfg = _load(_config_files(objs, "hai-hai-hub-scheduler", tmp_path), "hai_scheduler_config.py")
    assert cfg.SchedulerMetrics.authenticate_prometheus is False


@pytest.mark.parametrize("values", [MONITORED, ANNOTATED])
def test_helm_lint_is_clean_with_metrics(cmd, tmp_path, values) -> None:
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    out = run_helm(cmd, "lint", "--strict", str(CHART), "-f", str(vf))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "[WARNING]" not in out.stdout and "[ERROR]" not in out.stdout


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"metrics": {"annotations": True}}, "sends no token"),
        ({"metrics": {"serviceMonitor": {"enabled": True}}}, "tokenSecret.name"),
    ],
)
def test_metrics_values_that_cannot_work_are_refused(cmd, tmp_path, values, message) -> None:
    vf = tmp_path / "values.yaml"
    vf.write_text(yaml.safe_dump(values))
    out = run_helm(cmd, "template", "hai", str(CHART), "-f", str(vf))
    assert out.returncode != 0 and message in out.stderr
