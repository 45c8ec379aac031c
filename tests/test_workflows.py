"""The GitHub workflows: valid against the workflow schema, clean under ``zizmor`` (offline), and
thin wrappers of make targets anyone can run (``make test``, ``make nightly DEVICE=gpu``)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WORKFLOWS = ROOT / ".github" / "workflows"
CI, NIGHTLY, FLEET = WORKFLOWS / "ci.yml", WORKFLOWS / "nightly.yml", WORKFLOWS / "fleet.yml"
GPU_LABELS = ["self-hosted", "linux", "x64", "gpu"]
PINNED = re.compile(r"^\s*(?:-\s+)?uses:\s+[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+(\.\d+)*\s*$")


def _tool(name: str) -> str:
    """The tool from this interpreter's environment (the ``dev`` extra), else from PATH."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (pip install 'ghostbench[dev]')")
    return found


def _load(path: Path) -> dict:
    """The workflow as plain data; ruamel.yaml (YAML 1.2, so ``on`` stays a string) comes with
    check-jsonschema."""
    ruamel = pytest.importorskip("ruamel.yaml", reason="needs ruamel.yaml (pip install 'ghostbench[dev]')")
    return ruamel.YAML(typ="safe", pure=True).load(path.read_text())


def _steps(workflow: dict) -> list[dict]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def test_workflows_follow_the_github_schema() -> None:
    tool = _tool("check-jsonschema")
    files = sorted(str(p) for p in WORKFLOWS.glob("*.yml"))
    assert files == [str(CI), str(FLEET), str(NIGHTLY)]
    result = subprocess.run(
        [tool, "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _zizmor(*args: str) -> list[dict]:
    tool = _tool("zizmor")
    result = subprocess.run(
        [tool, "--offline", "--format", "json", *args, str(WORKFLOWS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    # 0: no findings; 10-14: findings (by highest severity); anything else is a zizmor failure.
    assert result.returncode == 0 or 10 <= result.returncode <= 14, result.stderr
    return json.loads(result.stdout or "[]")


def test_zizmor_finds_nothing_at_the_default_persona() -> None:
    findings = _zizmor()
    assert [(f["ident"], f["determinations"]["severity"]) for f in findings] == []


def test_zizmor_auditor_persona_finds_no_high_severity_issue() -> None:
    """The auditor persona also reports the self-hosted runners (medium): accepted, because only
    the schedule and manual dispatch reach them, never a pull request (docs/regression.md)."""
    findings = _zizmor("--persona", "auditor")
    assert [f["ident"] for f in findings if f["determinations"]["severity"] == "High"] == []
    assert {f["ident"] for f in findings} <= {"self-hosted-runner"}


@pytest.mark.parametrize("path", [CI, NIGHTLY, FLEET], ids=lambda p: p.name)
def test_actions_are_pinned_to_a_commit_with_its_version(path: Path) -> None:
    uses = [line for line in path.read_text().splitlines() if re.match(r"^\s*(-\s+)?uses:", line)]
    assert uses
    assert [u for u in uses if not PINNED.match(u)] == []


@pytest.mark.parametrize("path", [CI, NIGHTLY, FLEET], ids=lambda p: p.name)
def test_least_privilege_and_no_expressions_in_scripts(path: Path) -> None:
    workflow = _load(path)
    assert workflow["permissions"] == {}
    for job in workflow["jobs"].values():
        assert job["permissions"] == {"contents": "read"}
    for step in _steps(workflow):
        if "uses" in step and step["uses"].startswith("actions/checkout@"):
            assert step["with"]["persist-credentials"] is False
        # Values reach scripts through env, so no expression is ever pasted into shell code.
        assert "${{" not in step.get("run", "")


def test_ci_runs_make_test_on_pushes_and_pull_requests() -> None:
    workflow = _load(CI)
    assert set(workflow["on"]) == {"push", "pull_request"}
    runs = [s["run"] for s in _steps(workflow) if "run" in s]
    assert runs[-1] == "make test PYTHON=python3.11"  # the README's test command
    # The system packages .ci/run installs for the end-to-end tests (Chromium is on GitHub's image).
    ci_run = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    for package in ("openssh-server", "openssh-client", "adb"):
        assert package in runs[0] and package in ci_run


def test_nightly_is_make_nightly_on_the_gpu_runner_and_uploads_before_failing() -> None:
    workflow = _load(NIGHTLY)
    assert set(workflow["on"]) == {"schedule", "workflow_dispatch"}  # never untrusted code
    (job,) = workflow["jobs"].values()
    assert job["runs-on"] == GPU_LABELS
    steps = job["steps"]
    names = [s.get("id") or s.get("name") for s in steps]
    nightly = steps[names.index("nightly")]
    assert nightly["run"].count("make nightly DEVICE=gpu") == 1
    upload = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/upload-artifact@"))
    summary = next(i for i, s in enumerate(steps) if "GITHUB_STEP_SUMMARY" in s.get("run", ""))
    fail = names.index("Fail on a regression")
    assert names.index("nightly") < summary < upload < fail == len(steps) - 1
    for i in (summary, upload):
        assert steps[i]["if"] == "${{ !cancelled() }}"
    assert steps[fail]["if"] == "${{ steps.nightly.outputs.status != '0' }}"


def test_runner_labels_are_documented() -> None:
    doc = (ROOT / "docs" / "regression.md").read_text()
    assert "[self-hosted, linux, x64, gpu]" in doc


def test_make_nightly_writes_what_the_workflow_reads(tmp_path: Path) -> None:
    """The workflow passes NIGHTLY_OUT, reads compare.md and report.md from it and uploads it: the
    Makefile recipe must bench into it and write those files there."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    out = tmp_path / "nightly"
    result = subprocess.run(
        ["make", "-n", "nightly", "DEVICE=gpu", f"VENV={tmp_path / 'venv'}", f"NIGHTLY_OUT={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    commands = result.stdout
    assert f"ghostbench bench --device gpu --out-dir {out} " in commands
    assert f"ghostbench report {out}/*/ -o {out}/report.html --markdown {out}/report.md" in commands
    compare = f"ghostbench compare results/baselines/gpu {out}/*/ --json {out}/compare.json"
    assert f"{compare} --markdown {out}/compare.md" in commands


def test_fleet_benches_each_device_kind_on_its_runner_then_merges_one_report() -> None:
    workflow = _load(FLEET)
    assert set(workflow["on"]) == {"workflow_dispatch"}  # never untrusted code on the devices
    bench, report = workflow["jobs"]["bench"], workflow["jobs"]["report"]
    kinds = {m["device"]: m["labels"] for m in bench["strategy"]["matrix"]["include"]}
    assert kinds == {d: ["self-hosted", f"ghostbench-{d}"] for d in ("cpu", "gpu", "pi", "android")}
    assert bench["runs-on"] == "${{ matrix.labels }}" and bench["strategy"]["fail-fast"] is False
    runs = [s["run"] for s in bench["steps"] if "run" in s]
    assert len(runs) == 1 and 'make bench DEVICE="$DEVICE"' in runs[0]
    assert "--out-dir results/fleet-$DEVICE" in runs[0]
    assert report["needs"] == "bench" and report["if"] == "${{ !cancelled() }}"
    download = next(s for s in report["steps"] if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"] == {"pattern": "fleet-*", "path": "results/fleet"}
    assert any("make fleet-report" in s.get("run", "") for s in report["steps"])
    doc = (ROOT / "docs" / "devices.md").read_text()
    for labels in kinds.values():
        assert f"[{', '.join(labels)}]" in doc


def _make_n(*args: str) -> str:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_nightly_adds_the_run_to_the_history_and_draws_it(tmp_path: Path) -> None:
    out, history = tmp_path / "nightly", tmp_path / "history"
    commands = _make_n(
        "nightly", "DEVICE=gpu", f"VENV={tmp_path / 'venv'}", f"NIGHTLY_OUT={out}", f"HISTORY={history}"
    )
    assert f"ghostbench history add {out}/*/ --root {history}" in commands
    assert (
        f"ghostbench history show --device gpu --root {history} -o {out}/dashboard.html "
        f"--json {out}/history.json"
    ) in commands
    nightly = _load(NIGHTLY)
    (job,) = nightly["jobs"].values()
    assert 'HISTORY="$HOME/.ghostbench/history"' in next(
        s["run"] for s in job["steps"] if s.get("id") == "nightly"
    )


def test_make_fleet_report_reports_every_folder_given(tmp_path: Path) -> None:
    commands = _make_n(
        "fleet-report", f"VENV={tmp_path / 'venv'}", "RESULTS=a/r1 b/r2", "FLEET_REPORT=x/f.html"
    )
    assert "ghostbench report a/r1 b/r2 -o x/f.html --markdown x/f.md" in commands
