"""ops.k8s_render renders kustomizations as kustomize does for what our manifests use, and refuses
what it does not support rather than rendering it wrongly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ops.k8s_render import KustomizeError, Manifest, identity, json_merge, load_documents, render, strategic_merge
from tests.deploy.manifests import PRODUCTION, rendered

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "ns"},
    "spec": {
        "replicas": 1,
        "template": {
            "spec": {
                "containers": [
                    {
                        "name": "web",
                        "image": "app:1",
                        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                    },
                    {"name": "sidecar", "image": "proxy"},
                ]
            }
        },
    },
}
CUSTOM = {
    "apiVersion": "example.io/v1",
    "kind": "Thing",
    "metadata": {"name": "t", "namespace": "ns"},
    "spec": {"items": ["a", "b"], "size": 1},
}


def _kustomization(root: Path, name: str, body: dict[str, object], files: dict[str, object]) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "kustomization.yaml").write_text(yaml.safe_dump(body))
    for file, content in files.items():
        documents = content if isinstance(content, list) else [content]
        (folder / file).write_text(yaml.safe_dump_all(documents))
    return folder


def test_strategic_merge_merges_containers_and_env_by_name() -> None:
    patch = {"spec": {"template": {"spec": {"containers": [{"name": "web", "env": [{"name": "B", "value": "3"}]}]}}}}
    merged = strategic_merge(DEPLOYMENT, patch)
    web, sidecar = merged["spec"]["template"]["spec"]["containers"]
    assert web["image"] == "app:1"
    assert web["env"] == [{"name": "A", "value": "1"}, {"name": "B", "value": "3"}]
    assert sidecar == {"name": "sidecar", "image": "proxy"}


def test_json_merge_replaces_lists_and_deletes_nulls() -> None:
    merged = json_merge(CUSTOM, {"spec": {"items": ["c"], "size": None}})
    assert merged["spec"] == {"items": ["c"]}


def test_overlay_patches_images_and_keeps_the_base_unchanged(tmp_path: Path) -> None:
    _kustomization(
        tmp_path,
        "base",
        {"resources": ["all.yaml"], "images": [{"name": "app", "newTag": "2"}]},
        {"all.yaml": [DEPLOYMENT, CUSTOM]},
    )
    overlay = _kustomization(
        tmp_path,
        "overlay",
        {"resources": ["../base"], "patches": [{"path": "p.yaml"}], "images": [{"name": "app", "newName": "reg/app"}]},
        {
            "p.yaml": [
                {**{k: DEPLOYMENT[k] for k in ("apiVersion", "kind", "metadata")}, "spec": {"replicas": 3}},
                {**{k: CUSTOM[k] for k in ("apiVersion", "kind", "metadata")}, "spec": {"items": ["z"]}},
            ]
        },
    )
    deployment, custom = render(overlay)
    assert deployment["spec"]["replicas"] == 3
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "reg/app:2"
    assert deployment["spec"]["template"]["spec"]["containers"][1]["image"] == "proxy"
    assert custom["spec"] == {"items": ["z"], "size": 1}
    (base_deployment, _) = render(tmp_path / "base")
    assert base_deployment["spec"]["replicas"] == 1


def test_a_patch_that_matches_nothing_is_refused(tmp_path: Path) -> None:
    _kustomization(tmp_path, "base", {"resources": ["all.yaml"]}, {"all.yaml": DEPLOYMENT})
    stray = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "other"}}
    overlay = _kustomization(
        tmp_path, "overlay", {"resources": ["../base"], "patches": [{"path": "p.yaml"}]}, {"p.yaml": stray}
    )
    with pytest.raises(KustomizeError, match="matches 0 resources"):
        render(overlay)


def test_an_unsupported_kustomize_feature_is_refused(tmp_path: Path) -> None:
    folder = _kustomization(tmp_path, "k", {"resources": [], "namePrefix": "x-"}, {})
    with pytest.raises(KustomizeError, match="namePrefix"):
        render(folder)


def test_a_resource_defined_twice_is_refused(tmp_path: Path) -> None:
    folder = _kustomization(tmp_path, "k", {"resources": ["a.yaml", "b.yaml"]}, {"a.yaml": CUSTOM, "b.yaml": CUSTOM})
    with pytest.raises(KustomizeError, match="defined twice"):
        render(folder)


def test_the_production_overlay_changes_only_what_its_patches_and_image_name() -> None:
    def key(manifest: Manifest) -> tuple[str, str, str, str]:
        return identity(manifest)

    base = {key(m): m for m in rendered("base")}
    production = {key(m): m for m in rendered("production")}
    own = [PRODUCTION / r for r in yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())["resources"][1:]]
    assert production.keys() - base.keys() == {identity(m) for path in own for m in load_documents(path)}
    assert base.keys() <= production.keys()
    changed = {k for k in base if base[k] != production[k]}
    patch_files = [
        PRODUCTION / p["path"] for p in yaml.safe_load((PRODUCTION / "kustomization.yaml").read_text())["patches"]
    ]
    patched = {identity(patch) for path in patch_files for patch in load_documents(path)}
    workloads = {k for k in base if k[1] in {"Deployment", "Job"}}
    assert changed == patched | workloads
