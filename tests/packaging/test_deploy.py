"""The example manifests in deploy/ (they cannot run here): each object validates against the Kubernetes and
KEDA schemas (npm's kubernetes-models and @kubernetes-models/keda), and what they scale on is what the
service exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from recorder.operations.metrics import Metrics

ROOT = Path(__file__).resolve().parents[2]
TOOLS = ROOT / ".tools"


def _documents() -> list[dict[str, Any]]:
    return [doc for path in sorted((ROOT / "deploy").glob("*.yaml")) for doc in yaml.safe_load_all(path.read_text())]


def _check(documents: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    assert node is not None, "node is not installed (scripts/test.sh installs it)"
    assert (TOOLS / "node_modules/kubernetes-models").is_dir(), "scripts/test.sh installs kubernetes-models in .tools"
    return subprocess.run(
        [node, str(ROOT / "tests/deploy_check.mjs"), str(TOOLS)],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_every_manifest_validates_against_its_schema() -> None:
    documents = _documents()
    kinds = {(d["apiVersion"], d["kind"]) for d in documents}
    assert {("apps/v1", "Deployment"), ("autoscaling/v2", "HorizontalPodAutoscaler")} <= kinds, kinds
    assert ("keda.sh/v1alpha1", "ScaledObject") in kinds, kinds
    done = _check(documents)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("valid ") == len(documents), done.stdout


def test_the_check_refuses_a_broken_manifest() -> None:
    """(The check can fail.) A replica count that is not a number, a ScaledObject without its target."""
    hpa = next(d for d in _documents() if d["kind"] == "HorizontalPodAutoscaler")
    scaled = next(d for d in _documents() if d["kind"] == "ScaledObject")
    for broken in ({**hpa, "spec": {**hpa["spec"], "maxReplicas": "twenty"}}, {**scaled, "spec": {"triggers": []}}):
        done = _check([broken])
        assert done.returncode == 1 and "invalid" in done.stdout, done.stdout + done.stderr


def test_they_scale_on_the_capacity_the_service_exports() -> None:
    gauge = Metrics().capacity
    assert gauge._name == "recorder_capacity_recordings" and gauge._labelnames == ("scope", "kind")
    scaled = next(d for d in _documents() if d["kind"] == "ScaledObject")
    query = scaled["spec"]["triggers"][0]["metadata"]["query"]
    assert re.fullmatch(r'sum\(recorder_capacity_recordings\{scope="instance", kind="live"\}\)', query), query
    hpa = next(d for d in _documents() if d["kind"] == "HorizontalPodAutoscaler")
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "recorder_capacity_recordings_live"
