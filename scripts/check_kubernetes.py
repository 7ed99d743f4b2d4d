"""Validate the Kubernetes manifests under deploy/kubernetes (``make check``).

Each kustomization (the base and every overlay) is rendered -- by ``kubectl kustomize`` when
kubectl is installed, otherwise by the small renderer below, which supports exactly the
kustomize features this repository uses -- and every object is checked:

* built-in kinds against the Kubernetes OpenAPI schemas (kubernetes-validate, strict, one
  fixed Kubernetes version, so a field the API server would reject fails here);
* KEDA's ScaledObject and TriggerAuthentication against the schemas vendored in
  deploy/kubernetes/schemas/ (kubernetes-validate knows built-in kinds only);
* references between objects: every Secret, ConfigMap, Deployment and TriggerAuthentication
  named somewhere exists, selectors select a Deployment's pods, every container has resource
  requests and limits, every HTTP container has readiness and liveness probes, and every
  RabbitMQ trigger watches a queue of the topology (notification_common.rabbitmq.topology).

Exit status 1 with one line per problem. docs/operations.md, "Kubernetes".
"""

from __future__ import annotations

import argparse
import base64
import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES_DIR = ROOT / "deploy" / "kubernetes"
SCHEMA_DIR = KUBERNETES_DIR / "schemas"
# The Kubernetes version the manifests must be valid for (the oldest we support).
KUBERNETES_VERSION = "1.32.0"
KUSTOMIZATIONS = ("base", "overlays/production")

# Lists that a strategic merge patch merges item by item (by this key) instead of replacing.
MERGE_KEYS = {"containers": "name", "initContainers": "name", "env": "name", "volumes": "name"}
SUPPORTED_KUSTOMIZATION_KEYS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "images",
    "patches",
    "secretGenerator",
    "generatorOptions",
}
CLUSTER_SCOPED_KINDS = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"}


class RenderError(Exception):
    pass


# --------------------------------------------------------------------------- rendering
def render(directory: Path, *, renderer: str = "auto") -> list[dict]:
    """The objects of the kustomization in ``directory``."""
    kubectl = shutil.which("kubectl")
    if renderer == "kubectl" or (renderer == "auto" and kubectl):
        if not kubectl:
            raise RenderError("kubectl is not installed")
        result = subprocess.run([kubectl, "kustomize", str(directory)], capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RenderError(f"kubectl kustomize {directory}: {result.stderr.strip()}")
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    return render_python(directory)


def render_python(directory: Path) -> list[dict]:
    """A kustomize subset: resources, generators (no name hash), strategic merge patches,
    namespace and images -- applied in kustomize's order. Anything else is refused."""
    path = directory / "kustomization.yaml"
    if not path.is_file():
        raise RenderError(f"{directory}: no kustomization.yaml")
    kustomization = yaml.safe_load(path.read_text()) or {}
    unsupported = set(kustomization) - SUPPORTED_KUSTOMIZATION_KEYS
    if unsupported:
        raise RenderError(
            f"{path}: the built-in renderer does not support {', '.join(sorted(unsupported))}; "
            "install kubectl or keep the layout simple"
        )
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            objects.extend(render_python(target))
        elif target.is_file():
            objects.extend(doc for doc in yaml.safe_load_all(target.read_text()) if doc)
        else:
            raise RenderError(f"{path}: resource {entry!r} does not exist")
    _apply_secret_generators(directory, kustomization, objects)
    for patch in kustomization.get("patches", []):
        if set(patch) != {"path"}:
            raise RenderError(f"{path}: only `patches: - path: <file>` (strategic merge) is supported")
        _apply_patch(objects, yaml.safe_load((directory / patch["path"]).read_text()), directory / patch["path"])
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj.get("kind") not in CLUSTER_SCOPED_KINDS:
                obj.setdefault("metadata", {})["namespace"] = namespace
    for image in kustomization.get("images", []):
        _apply_image(objects, image)
    return objects


def _apply_secret_generators(directory: Path, kustomization: dict, objects: list[dict]) -> None:
    generators = kustomization.get("secretGenerator", [])
    if generators and not (kustomization.get("generatorOptions") or {}).get("disableNameSuffixHash"):
        raise RenderError(f"{directory}: the built-in renderer needs generatorOptions.disableNameSuffixHash: true")
    for generator in generators:
        data: dict[str, str] = {}
        for env_file in generator.get("envs", []):
            for line in (directory / env_file).read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    data[key.strip()] = value
        for item in generator.get("files", []):
            key, _, file_path = item.rpartition("=")
            file_path = file_path or item
            data[key or Path(file_path).name] = (directory / file_path).read_text()
        for literal in generator.get("literals", []):
            key, _, value = literal.partition("=")
            data[key] = value
        secret = {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": generator["name"]},
            "type": generator.get("type", "Opaque"),
            "data": {key: base64.b64encode(value.encode()).decode() for key, value in data.items()},
        }
        existing = [i for i, obj in enumerate(objects) if _identity(obj)[:3] == ("v1", "Secret", generator["name"])]
        behavior = generator.get("behavior", "create")
        if behavior == "replace" and existing:
            # kustomize keeps the replaced object's metadata (labels...) and replaces its data.
            secret["metadata"] = copy.deepcopy(objects[existing[0]]["metadata"])
            objects[existing[0]] = secret
        elif behavior == "create" and not existing:
            objects.append(secret)
        else:
            raise RenderError(f"{directory}: secretGenerator {generator['name']!r}: behavior {behavior!r} unsupported")


def _apply_patch(objects: list[dict], patch: dict, source: Path) -> None:
    name = (patch.get("metadata") or {}).get("name")
    targets = [obj for obj in objects if obj.get("kind") == patch.get("kind") and obj["metadata"].get("name") == name]
    if len(targets) != 1:
        raise RenderError(f"{source}: patch target {patch.get('kind')}/{name} not found")
    body = {key: value for key, value in patch.items() if key not in ("apiVersion", "kind")}
    _merge(targets[0], body)


def _merge(target: dict, patch: dict) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(target.get(key), list):
            merge_key = MERGE_KEYS[key]
            by_key = {item.get(merge_key): item for item in target[key]}
            for item in value:
                if item.get(merge_key) in by_key:
                    _merge(by_key[item[merge_key]], item)
                else:
                    target[key].append(copy.deepcopy(item))
        else:
            target[key] = copy.deepcopy(value)


def _apply_image(objects: list[dict], image: dict) -> None:
    for container in _all_containers(objects):
        current = container.get("image", "")
        name, _, tag = current.partition(":")
        if name == image["name"]:
            container["image"] = f"{image.get('newName', name)}:{image.get('newTag', tag)}"


# --------------------------------------------------------------------------- validation
def _identity(obj: dict) -> tuple[str, str, str, str]:
    metadata = obj.get("metadata") or {}
    return obj.get("apiVersion", ""), obj.get("kind", ""), metadata.get("name", ""), metadata.get("namespace", "")


def _label(obj: dict) -> str:
    return f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name')}"


def _pod_spec(obj: dict) -> dict | None:
    if obj.get("kind") in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        return ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
    return None


def _all_containers(objects: list[dict]):
    for obj in objects:
        spec = _pod_spec(obj)
        if spec is not None:
            yield from spec.get("initContainers", []) or []
            yield from spec.get("containers", []) or []


def _load_crd_schemas() -> dict[tuple[str, str], object]:
    import jsonschema

    validators = {}
    for path in sorted(SCHEMA_DIR.glob("*.json")):
        schema = json.loads(path.read_text())
        validator_class = jsonschema.validators.validator_for(schema)
        validator_class.check_schema(schema)
        api_version = schema["properties"]["apiVersion"]["const"]
        kind = schema["properties"]["kind"]["const"]
        validators[(api_version, kind)] = validator_class(schema)
    return validators


def schema_problems(objects: list[dict], *, kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Every object against its schema: built-in kinds strictly, KEDA's against the vendored ones."""
    import kubernetes_validate

    crd_validators = _load_crd_schemas()
    problems = []
    for obj in objects:
        key = (obj.get("apiVersion", ""), obj.get("kind", ""))
        if key in crd_validators:
            for error in sorted(crd_validators[key].iter_errors(obj), key=lambda e: list(e.absolute_path)):
                where = ".".join(str(part) for part in error.absolute_path) or "(root)"
                problems.append(f"{_label(obj)}: {where}: {error.message}")
            continue
        try:
            kubernetes_validate.validate(obj, kubernetes_version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path) or "(root)"
            problems.append(f"{_label(obj)}: {where}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError:
            # A kind unknown to Kubernetes and not vendored: a typo, or a CRD whose schema is missing.
            problems.append(
                f"{_label(obj)}: no schema for {key[0]} {key[1]} in Kubernetes {kubernetes_version} "
                f"nor in {SCHEMA_DIR.relative_to(ROOT)}"
            )
    return problems


def reference_problems(objects: list[dict]) -> list[str]:
    """What a schema cannot see: names and selectors that point at nothing, missing limits/probes."""
    from notification_common.rabbitmq.topology import all_queues

    names: dict[str, dict[str, dict]] = {}
    for obj in objects:
        names.setdefault(obj.get("kind", ""), {})[(obj.get("metadata") or {}).get("name")] = obj
    secrets = names.get("Secret", {})
    config_maps = names.get("ConfigMap", {})
    deployments = names.get("Deployment", {})
    problems = []

    def secret_keys(name: str) -> set[str]:
        secret = secrets.get(name) or {}
        return set(secret.get("data") or {}) | set(secret.get("stringData") or {})

    for obj in objects:
        spec = _pod_spec(obj)
        if spec is None:
            continue
        label = _label(obj)
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            cname = container.get("name")
            for source in container.get("envFrom") or []:
                if "secretRef" in source and source["secretRef"]["name"] not in secrets:
                    name = source["secretRef"]["name"]
                    problems.append(f"{label} container {cname}: envFrom Secret {name!r} missing")
                if "configMapRef" in source and source["configMapRef"]["name"] not in config_maps:
                    name = source["configMapRef"]["name"]
                    problems.append(f"{label} container {cname}: envFrom ConfigMap {name!r} missing")
            for variable in container.get("env") or []:
                ref = (variable.get("valueFrom") or {}).get("secretKeyRef")
                if ref and ref["key"] not in secret_keys(ref["name"]):
                    problems.append(f"{label} container {cname}: env {variable['name']} -> missing {ref}")
            resources = container.get("resources") or {}
            for part in ("requests", "limits"):
                if not {"cpu", "memory"} <= set(resources.get(part) or {}):
                    problems.append(f"{label} container {cname}: resources.{part} needs cpu and memory")
            if container.get("ports") and obj.get("kind") == "Deployment":
                for probe in ("readinessProbe", "livenessProbe"):
                    if probe not in container:
                        problems.append(f"{label} container {cname}: serves HTTP but has no {probe}")
        volume_names = {volume["name"] for volume in spec.get("volumes") or []}
        for volume in spec.get("volumes") or []:
            if "secret" in volume and volume["secret"]["secretName"] not in secrets:
                name = volume["secret"]["secretName"]
                problems.append(f"{label}: volume {volume['name']} -> Secret {name!r} missing")
            if "configMap" in volume and volume["configMap"]["name"] not in config_maps:
                name = volume["configMap"]["name"]
                problems.append(f"{label}: volume {volume['name']} -> ConfigMap {name!r} missing")
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            for mount in container.get("volumeMounts") or []:
                if mount["name"] not in volume_names:
                    cname = container.get("name")
                    problems.append(f"{label} container {cname}: mounts unknown volume {mount['name']!r}")

    def selects_a_deployment(selector: dict) -> bool:
        return any(
            selector.items() <= ((d["spec"]["template"].get("metadata") or {}).get("labels") or {}).items()
            for d in deployments.values()
        )

    for obj in names.get("Service", {}).values():
        if not selects_a_deployment(obj["spec"].get("selector") or {}):
            problems.append(f"{_label(obj)}: selector matches no Deployment's pods")
    for obj in names.get("PodDisruptionBudget", {}).values():
        if not selects_a_deployment((obj["spec"].get("selector") or {}).get("matchLabels") or {}):
            problems.append(f"{_label(obj)}: selector matches no Deployment's pods")
    for kind in ("HorizontalPodAutoscaler", "ScaledObject"):
        for obj in names.get(kind, {}).values():
            target = obj["spec"].get("scaleTargetRef") or {}
            if target.get("name") not in deployments:
                problems.append(f"{_label(obj)}: scaleTargetRef {target.get('name')!r} is not a Deployment here")
    queues = set(all_queues())
    trigger_auths = names.get("TriggerAuthentication", {})
    for obj in names.get("ScaledObject", {}).values():
        for trigger in obj["spec"].get("triggers") or []:
            auth = (trigger.get("authenticationRef") or {}).get("name")
            if auth and auth not in trigger_auths:
                problems.append(f"{_label(obj)}: authenticationRef {auth!r} missing")
            queue = (trigger.get("metadata") or {}).get("queueName")
            if trigger.get("type") == "rabbitmq" and queue not in queues:
                problems.append(f"{_label(obj)}: queue {queue!r} is not in the topology")
    for obj in trigger_auths.values():
        for ref in obj["spec"].get("secretTargetRef") or []:
            if ref["key"] not in secret_keys(ref["name"]):
                problems.append(f"{_label(obj)}: secretTargetRef {ref['name']}/{ref['key']} missing")
    return problems


def check(directory: Path, *, renderer: str = "auto", kubernetes_version: str = KUBERNETES_VERSION) -> list[str]:
    """Problems of one kustomization (an empty list when it is valid)."""
    try:
        objects = render(directory, renderer=renderer)
    except (RenderError, OSError, yaml.YAMLError) as exc:
        return [f"render: {exc}"]
    if not objects:
        return ["render: no objects"]
    return schema_problems(objects, kubernetes_version=kubernetes_version) + reference_problems(objects)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kustomizations", nargs="*", help=f"directories (default: {', '.join(KUSTOMIZATIONS)})")
    parser.add_argument("--renderer", choices=("auto", "kubectl", "python"), default="auto")
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    args = parser.parse_args(argv)
    directories = [Path(d) for d in args.kustomizations] or [KUBERNETES_DIR / d for d in KUSTOMIZATIONS]
    failed = False
    for directory in directories:
        problems = check(directory, renderer=args.renderer, kubernetes_version=args.kubernetes_version)
        shown = directory.relative_to(ROOT) if directory.resolve().is_relative_to(ROOT) else directory
        for problem in problems:
            print(f"{shown}: {problem}", file=sys.stderr)
        failed = failed or bool(problems)
        if not problems:
            print(f"kubernetes: {shown} valid (Kubernetes {args.kubernetes_version}, strict; KEDA schemas vendored)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
