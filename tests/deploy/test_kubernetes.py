"""deploy/kubernetes/: valid against Kubernetes' own schemas (kubernetes-validate bundles them)
and consistent with what harborlite reads: every HARBORLITE_* key in the ConfigMap and Secrets
is a setting harborlite/settings.py reads, the settings load, ports and probe paths match."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from harborlite.settings import load_settings
from tests.harness import ROOT

MANIFESTS = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.30.0"
SETTINGS_SOURCE = ROOT / "harborlite" / "settings.py"


def documents() -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in sorted(MANIFESTS.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                found.append((path, document))
    return found


def named(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in documents() if d["kind"] == kind}


def containers(deployment: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = deployment["spec"]["template"]["spec"]
    yield from spec.get("initContainers", [])
    yield from spec["containers"]


@pytest.mark.parametrize(
    "path,document", documents(), ids=lambda v: v.name if isinstance(v, Path) else ""
)
def test_every_manifest_is_valid_for_kubernetes(path: Path, document: dict[str, Any]) -> None:
    kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)


def test_a_broken_manifest_is_refused_by_the_validation() -> None:
    deployment = named("Deployment")["harborlite"]
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["replicas"] = "three"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
    broken = yaml.safe_load(yaml.safe_dump(deployment))
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["paht"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def settings_read() -> set[str]:
    """The HARBORLITE_* names settings.py reads."""
    return set(re.findall(r'"(HARBORLITE_[A-Z0-9_]+)"', SETTINGS_SOURCE.read_text()))


def harborlite_environment() -> dict[str, str]:
    config = named("ConfigMap")["harborlite-settings"]["data"]
    secret = named("Secret")["harborlite-settings"]["stringData"]
    assert not set(config) & set(secret), "a setting in both the ConfigMap and the Secret"
    return {**config, **secret}


def test_every_setting_in_the_configmap_and_secrets_is_one_harborlite_reads() -> None:
    environment = harborlite_environment()
    assert environment, "no settings"
    unknown = set(environment) - settings_read()
    assert not unknown, f"not read by harborlite/settings.py: {sorted(unknown)}"
    # the Deployment takes exactly these two as its environment
    for container in containers(named("Deployment")["harborlite"]):
        for source in container.get("envFrom", []):
            ref = source.get("configMapRef") or source.get("secretRef")
            assert ref["name"] == "harborlite-settings"


def test_the_settings_load(tmp_path: Path) -> None:
    environment = {**harborlite_environment(), "HARBORLITE_DATA_DIR": str(tmp_path)}
    settings = load_settings(environment)
    assert settings.external_url.startswith("https://")
    assert settings.registry_url == "http://harborlite-registry:5000"
    assert settings.storage == "s3"


def test_ports_probes_and_resources_match() -> None:
    environment = harborlite_environment()
    port = int(environment["HARBORLITE_PORT"])
    deployment = named("Deployment")["harborlite"]
    (server,) = deployment["spec"]["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"http": port}
    for probe in ("readinessProbe", "livenessProbe"):
        check = server[probe]["httpGet"]
        assert check["path"] == "/api/v2.0/health"
        assert check["port"] in ("http", port)
    for deployment_name in ("harborlite", "harborlite-registry"):
        for container in containers(named("Deployment")[deployment_name]):
            assert container["resources"]["requests"], container["name"]
    # N replicas, and the disruption budget keeps some of them
    budget = named("PodDisruptionBudget")["harborlite"]
    assert deployment["spec"]["replicas"] >= 2
    assert 1 <= budget["spec"]["minAvailable"] < deployment["spec"]["replicas"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["spec"]["selector"]["matchLabels"].items() <= labels.items()
    # Service -> pods, Ingress (TLS) -> Service, by name and port name
    service = named("Service")["harborlite"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= {"http", port}
    ingress = named("Ingress")["harborlite"]
    assert ingress["spec"]["tls"][0]["secretName"] in named("Secret")
    backend = ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"]
    assert backend["name"] == "harborlite"
    assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    host = ingress["spec"]["rules"][0]["host"]
    assert environment["HARBORLITE_EXTERNAL_URL"] == f"https://{host}"
    assert host in ingress["spec"]["tls"][0]["hosts"]


def test_the_registry_trusts_harborlites_certificate_and_answers_its_url() -> None:
    environment = harborlite_environment()
    config = yaml.safe_load(named("ConfigMap")["harborlite-registry-config"]["data"]["config.yml"])
    token = config["auth"]["token"]
    assert token["realm"] == environment["HARBORLITE_EXTERNAL_URL"] + "/service/token"
    assert token["service"] == "harbor-registry" and token["issuer"] == "harborlite-token-issuer"
    registry = named("Deployment")["harborlite-registry"]
    (container,) = registry["spec"]["template"]["spec"]["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert token["rootcertbundle"] == f"{mounts['signing']}/token.crt"
    assert container["args"] == [f"{mounts['config']}/config.yml"]
    port = int(config["http"]["addr"].rsplit(":", 1)[1])
    assert {p["containerPort"] for p in container["ports"]} == {port}
    service = named("Service")["harborlite-registry"]
    assert environment["HARBORLITE_REGISTRY_URL"] == (
        f"http://{service['metadata']['name']}:{service['spec']['ports'][0]['port']}"
    )
    assert config["storage"]["s3"]["bucket"] == environment["HARBORLITE_S3_BUCKET"]
    assert config["storage"]["s3"]["region"] == environment["HARBORLITE_S3_REGION"]
    # the signing key both use is one Secret
    volumes = {v["name"]: v for v in registry["spec"]["template"]["spec"]["volumes"]}
    harborlite = named("Deployment")["harborlite"]["spec"]["template"]["spec"]
    theirs = {v["name"]: v for v in harborlite["volumes"]}
    assert volumes["signing"]["secret"]["secretName"] == theirs["signing"]["secret"]["secretName"]
