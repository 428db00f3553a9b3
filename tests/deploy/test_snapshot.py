"""Issue 24: the production overlay as rendered is checked in (tests/deploy/snapshots/production.yaml),
so every change to what production runs shows in review as a diff of the rendered manifests, not only
as a diff of patches. After a deliberate change: `make k8s-snapshot`, and commit the snapshot with it."""

from __future__ import annotations

import difflib

import yaml

from tests.deploy.manifests import ROOT, rendered

SNAPSHOT = ROOT / "tests" / "deploy" / "snapshots" / "production.yaml"


def render_production() -> str:
    """What `python -m ops.k8s_render deploy/k8s/overlays/production` prints."""
    return yaml.safe_dump_all(list(rendered("production")), sort_keys=False)


def test_the_rendered_production_overlay_is_the_checked_in_snapshot() -> None:
    now, kept = render_production(), SNAPSHOT.read_text()
    diff = "".join(difflib.unified_diff(kept.splitlines(True), now.splitlines(True), "snapshot", "rendered now", n=2))
    assert not diff, f"the production manifests changed; if meant, run `make k8s-snapshot`:\n{diff[:6000]}"
