"""scripts/check_kubernetes.py: the shipped manifests pass, and each kind of breakage fails."""

from __future__ import annotations

import shutil
from pathlib import Path

import check_kubernetes
import pytest

SOURCE = check_kubernetes.KUBERNETES_DIR


@pytest.fixture
def manifests(tmp_path) -> Path:
    """A copy of deploy/kubernetes that a test may break."""
    copy = tmp_path / "kubernetes"
    shutil.copytree(SOURCE, copy)
    return copy


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) >= 1, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def problems_of(root: Path, kustomization: str = "overlays/production", renderer: str = "auto") -> list[str]:
    return check_kubernetes.check(root / kustomization, renderer=renderer)


# -- the shipped manifests ------------------------------------------------------------------------


@pytest.mark.parametrize("kustomization", check_kubernetes.KUSTOMIZATIONS)
def test_shipped_kustomizations_are_valid(kustomization):
    assert check_kubernetes.check(SOURCE / kustomization) == []


def test_the_production_overlay_has_every_process_and_its_scaling():
    objects = check_kubernetes.render(SOURCE / "overlays/production")
    by_kind: dict[str, set[str]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    apis = {"api-gateway", "user-service", "template-service", "email-service", "push-service", "admin-service"}
    workers = {"email-worker", "push-worker", "dead-letter-consumer", "outbox-relay", "webhook-dispatcher"}
    assert by_kind["Deployment"] == apis | workers
    assert by_kind["Service"] == by_kind["HorizontalPodAutoscaler"] == apis
    assert by_kind["PodDisruptionBudget"] == apis | workers
    assert by_kind["ScaledObject"] == {"email-worker", "push-worker", "dead-letter-consumer"}
    assert {f"{name}-migrate" for name in apis} <= by_kind["Job"]
    assert all(obj["metadata"].get("namespace") == "notifications" for obj in objects if obj["kind"] != "Namespace")


def _normalized(objects: list[dict]) -> dict:
    """Objects by identity, with Secret data decoded (kustomize wraps long base64 lines)."""
    import base64

    result = {}
    for obj in objects:
        if obj["kind"] == "Secret" and "data" in obj:
            obj = {**obj, "data": {k: base64.b64decode("".join(v.split())) for k, v in obj["data"].items()}}
        result[check_kubernetes._identity(obj)] = obj
    return result


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("kustomization", check_kubernetes.KUSTOMIZATIONS)
def test_builtin_renderer_renders_what_kubectl_kustomize_renders(kustomization):
    # The fallback for machines without kubectl must not validate something else.
    ours = check_kubernetes.render(SOURCE / kustomization, renderer="python")
    theirs = check_kubernetes.render(SOURCE / kustomization, renderer="kubectl")
    assert _normalized(ours) == _normalized(theirs)


# -- broken manifests fail --------------------------------------------------------------------------


def test_a_misspelt_field_fails_strict_validation(manifests):
    edit(manifests / "base/api-gateway.yaml", "readinessProbe:", "readinesProbe:")
    problems = problems_of(manifests)
    assert any("Deployment/api-gateway" in p and "readinesProbe" in p for p in problems), problems


def test_a_wrong_type_fails_schema_validation(manifests):
    edit(manifests / "base/outbox-relay.yaml", "replicas: 1", "replicas: one")
    problems = problems_of(manifests)
    assert any(p.startswith("Deployment/outbox-relay: spec.replicas:") for p in problems), problems


def test_an_unknown_kind_fails(manifests):
    edit(manifests / "base/api-gateway.yaml", "kind: PodDisruptionBudget", "kind: PodDisruptionBudgett")
    problems = problems_of(manifests)
    assert any("PodDisruptionBudgett/api-gateway: no schema" in p for p in problems), problems


def test_a_scaled_object_breaking_the_vendored_keda_schema_fails(manifests):
    edit(manifests / "base/push-worker.yaml", "  pollingInterval: 15", "  pollingIntervalSeconds: 15")
    problems = problems_of(manifests)
    assert any("ScaledObject/push-worker" in p and "pollingIntervalSeconds" in p for p in problems), problems


def test_a_scaled_object_on_a_queue_outside_the_topology_fails(manifests):
    edit(manifests / "base/email-worker.yaml", "queueName: email.queue", "queueName: emails.queue")
    problems = problems_of(manifests)
    assert "ScaledObject/email-worker: queue 'emails.queue' is not in the topology" in problems


def test_a_reference_to_a_missing_secret_fails(manifests):
    edit(manifests / "base/admin-service.yaml", "name: admin-service-secrets", "name: admin-secrets")
    problems = problems_of(manifests)
    assert any("envFrom Secret 'admin-secrets' missing" in p for p in problems), problems


def test_a_container_without_limits_fails(manifests):
    edit(
        manifests / "overlays/production/patches/api-gateway.yaml",
        '            limits:\n              cpu: "2"\n              memory: 768Mi\n',
        "            limits: null\n",
    )
    problems = problems_of(manifests)
    assert "Deployment/api-gateway container api-gateway: resources.limits needs cpu and memory" in problems


def test_the_builtin_renderer_refuses_kustomize_features_it_does_not_implement(manifests):
    edit(manifests / "base/kustomization.yaml", "resources:", "commonLabels:\n  team: notifications\nresources:")
    problems = problems_of(manifests, "base", renderer="python")
    assert problems == [
        f"render: {manifests / 'base/kustomization.yaml'}: the built-in renderer does not support commonLabels; "
        "install kubectl or keep the layout simple"
    ]


def test_main_exits_1_and_names_each_problem(manifests, capsys):
    edit(manifests / "base/email-worker.yaml", "queueName: email.queue", "queueName: emails.queue")
    assert check_kubernetes.main([str(manifests / "base")]) == 1
    assert "ScaledObject/email-worker: queue 'emails.queue' is not in the topology" in capsys.readouterr().err
