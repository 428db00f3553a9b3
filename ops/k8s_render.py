"""Renders a kustomization the way `kubectl kustomize` does, for the subset of kustomize our manifests
use (python -m ops.k8s_render deploy/k8s/overlays/production > rendered.yaml).

No kustomize binary comes from the package registries this project installs from, so the offline tests
render with this. Supported: `resources` (files, and folders holding a kustomization.yaml), `images`
(newName/newTag on containers' `image`), and `patches` given by `path` that name their target by
apiVersion, kind, namespace and name. Patches merge as kustomize does: built-in kinds by strategic merge
(lists of containers, env, volumes, ... merged by their key), custom resources by JSON merge patch
(RFC 7386: lists replaced). Anything else in a kustomization is refused rather than ignored.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import yaml

Manifest = dict[str, Any]

SUPPORTED_FIELDS = frozenset({"apiVersion", "kind", "resources", "images", "patches"})
# API groups whose kinds kustomize knows the schema of (strategic merge); other groups are custom resources.
BUILTIN_GROUPS = frozenset(
    {"", "apps", "batch", "policy", "autoscaling", "networking.k8s.io", "rbac.authorization.k8s.io"}
)
# Strategic-merge keys of the lists our patches touch (from the Kubernetes API's patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
}


class KustomizeError(Exception):
    """A kustomization this renderer cannot render faithfully."""


def render(directory: Path) -> list[Manifest]:
    """Every manifest of the kustomization in `directory`, with its images and patches applied."""
    kustomization = _load_kustomization(directory)
    manifests: list[Manifest] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        manifests += render(path) if path.is_dir() else load_documents(path)
    for patch_entry in kustomization.get("patches", []):
        if set(patch_entry) != {"path"}:
            raise KustomizeError(f"{directory}: only patches given by path are supported: {patch_entry}")
        for patch in load_documents(directory / patch_entry["path"]):
            _apply_patch(manifests, patch, directory / patch_entry["path"])
    for image in kustomization.get("images", []):
        _set_image(manifests, image)
    _refuse_duplicates(manifests)
    return manifests


def load_documents(path: Path) -> list[Manifest]:
    """The YAML documents of a file, empty documents left out."""
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def identity(manifest: Manifest) -> tuple[str, str, str, str]:
    """(group, kind, namespace, name): what kustomize matches resources and patches by."""
    group = manifest["apiVersion"].rpartition("/")[0]
    metadata = manifest.get("metadata", {})
    return group, manifest["kind"], metadata.get("namespace", ""), metadata["name"]


def _load_kustomization(directory: Path) -> Manifest:
    path = directory / "kustomization.yaml"
    if not path.exists():
        raise KustomizeError(f"{directory}: no kustomization.yaml")
    kustomization: Manifest = yaml.safe_load(path.read_text()) or {}
    unsupported = set(kustomization) - SUPPORTED_FIELDS
    if unsupported:
        raise KustomizeError(f"{path}: unsupported fields {sorted(unsupported)}")
    return kustomization


def _apply_patch(manifests: list[Manifest], patch: Manifest, source: Path) -> None:
    targets = [i for i, m in enumerate(manifests) if identity(m) == identity(patch)]
    if len(targets) != 1:
        raise KustomizeError(f"{source}: patch for {identity(patch)} matches {len(targets)} resources")
    index = targets[0]
    builtin = identity(patch)[0] in BUILTIN_GROUPS
    manifests[index] = strategic_merge(manifests[index], patch) if builtin else json_merge(manifests[index], patch)


def json_merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = json_merge(merged.get(key), value)
    return merged


def strategic_merge(target: Any, patch: Any, field: str = "") -> Any:
    """Strategic merge patch for the lists in MERGE_KEYS; otherwise the same as a JSON merge patch."""
    if isinstance(patch, list) and isinstance(target, list) and field in MERGE_KEYS:
        key = MERGE_KEYS[field]
        items: list[Any] = copy.deepcopy(target)
        for item in patch:
            found = next((i for i, existing in enumerate(items) if existing.get(key) == item.get(key)), None)
            if found is None:
                items.append(copy.deepcopy(item))
            else:
                items[found] = strategic_merge(items[found], item)
        return items
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged: dict[str, Any] = copy.deepcopy(target) if isinstance(target, dict) else {}
    for name, value in patch.items():
        if value is None:
            merged.pop(name, None)
        else:
            merged[name] = strategic_merge(merged.get(name), value, name)
    return merged


def _set_image(manifests: list[Manifest], image: Manifest) -> None:
    for manifest in manifests:
        pod = _pod_spec(manifest)
        if pod is None:
            continue
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            name, _, tag = container["image"].partition(":")
            if name == image["name"]:
                new_tag = image.get("newTag", tag)
                container["image"] = image.get("newName", name) + (f":{new_tag}" if new_tag else "")


def _pod_spec(manifest: Manifest) -> Manifest | None:
    if manifest["kind"] in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
        spec: Manifest = manifest["spec"]["template"]["spec"]
        return spec
    return None


def _refuse_duplicates(manifests: list[Manifest]) -> None:
    seen: set[tuple[str, str, str, str]] = set()
    for manifest in manifests:
        if identity(manifest) in seen:
            raise KustomizeError(f"resource {identity(manifest)} defined twice")
        seen.add(identity(manifest))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("directory", type=Path, help="a folder holding a kustomization.yaml")
    args = parser.parse_args(argv)
    try:
        manifests = render(args.directory)
    except (KustomizeError, OSError, yaml.YAMLError) as error:
        sys.stderr.write(f"cannot render {args.directory}: {error}\n")
        sys.exit(1)
    sys.stdout.write(yaml.safe_dump_all(manifests, sort_keys=False))


if __name__ == "__main__":
    main()
