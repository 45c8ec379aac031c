"""The commands that need no model code run without importing torch: ``ghostbench models`` and
``ghostbench export`` on a cache hit once the zoo manifest holds the facts, ``report`` and
``compare`` always. Each is run in a fresh interpreter that fails if torch gets imported, and the
manifest's facts are checked against what the registry computes with torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ghostbench.models import complexity, manifest, registry

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "results" / "baselines" / "cpu"
SOME = ["ghostnet_050", "g_ghost_regnetx_032", "mobilenetv3_large_100"]

# Runs ghostbench's CLI with argv, then fails (exit 99) if torch was imported along the way.
NO_TORCH = (
    "import sys\n"
    "from ghostbench.commands import cli\n"
    "code = cli.main(sys.argv[1:])\n"
    "sys.exit(99 if 'torch' in sys.modules else code)\n"
)


def _cli_without_torch(args: list[str], cache: Path, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "GHOSTBENCH_CACHE_DIR": str(cache)}
    return subprocess.run(
        [sys.executable, "-c", NO_TORCH, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_manifest_facts_are_the_registrys(tmp_path: Path) -> None:
    zoo = manifest.Zoo(tmp_path)
    assert zoo.names() == registry.names()
    counts = zoo.counts(SOME)
    again = manifest.Zoo(tmp_path)  # read back from disk
    for name in SOME:
        exact = complexity.count_model(name)
        assert counts[name] == again.counts([name])[name]
        assert (counts[name].params, counts[name].macs, counts[name].activations) == (
            exact.params,
            exact.macs,
            exact.activations,
        )
        spec = registry.get(name)
        entry = again.get(name)
        assert (entry.family, entry.input_size, entry.top1) == (
            spec.family,
            spec.input_size,
            spec.reference.top1,
        )
    assert again.select("ghostnet_*", family="c-ghost") == registry.select("ghostnet_*", family="c-ghost")
    with pytest.raises(registry.UnknownModelError, match="did you mean: ghostnet_050"):
        again.get("ghostnet_05")


def test_models_listing_reads_the_manifest_without_torch(tmp_path: Path) -> None:
    cold = subprocess.run(
        [sys.executable, "-m", "ghostbench", "models", "--format", "json", "--include", ",".join(SOME)],
        capture_output=True,
        text=True,
        env={**os.environ, "GHOSTBENCH_CACHE_DIR": str(tmp_path)},
        timeout=300,
    )
    assert cold.returncode == 0, cold.stderr
    warm = _cli_without_torch(["models", "--format", "json", "--include", ",".join(SOME)], tmp_path)
    assert warm.returncode == 0, warm.stderr
    assert json.loads(warm.stdout) == json.loads(cold.stdout)
    assert {r["name"]: r["macs"] for r in json.loads(warm.stdout)} == {
        n: complexity.count_model(n).macs for n in SOME
    }


def test_a_changed_definition_is_a_new_fingerprint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    copy = tmp_path / "models"
    shutil.copytree(manifest.PACKAGE_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(manifest, "PACKAGE_DIR", copy)
    before = manifest.fingerprint()
    assert manifest.fingerprint() == before
    blocks = copy / "blocks.py"
    blocks.write_text(blocks.read_text() + "\n# a comment is a change too\n")
    assert manifest.fingerprint() != before


def test_a_changed_file_outside_the_package_invalidates_the_manifest(tmp_path: Path) -> None:
    zoo = manifest.Zoo(tmp_path / "cache")
    zoo.names()
    outside = tmp_path / "helper.py"
    outside.write_text("x = 1\n")
    data = json.loads(zoo.path.read_text())
    data["outside"] = {str(outside): "0" * 64}  # recorded sha256 no longer matches the file
    zoo.path.write_text(json.dumps(data))
    assert manifest.Zoo(tmp_path / "cache")._entries == {}


def test_an_unwritable_cache_costs_only_speed(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    zoo = manifest.Zoo(blocked)
    assert zoo.counts(["ghostnet_050"])["ghostnet_050"].macs == complexity.count_model("ghostnet_050").macs


def test_an_export_cache_hit_imports_no_torch(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    from ghostbench.exporters import export

    cache = tmp_path / "cache"
    artifact = export("ghostnet_050", "onnx", "fp32", cache_dir=cache)
    hit = _cli_without_torch(["export", "ghostnet_050", "-f", "onnx"], cache)
    assert hit.returncode == 0, hit.stderr
    assert "cache hit" in hit.stdout and hit.stdout.strip().splitlines()[-1] == str(artifact.path)


def test_report_and_compare_import_no_torch(tmp_path: Path) -> None:
    if not (BASELINE / "latency.parquet").exists():
        pytest.skip("no committed CPU baseline in this checkout")
    report = _cli_without_torch(["report", str(BASELINE), "-o", str(tmp_path / "r.html")], tmp_path)
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "r.html").stat().st_size > 0
    compare = _cli_without_torch(["compare", str(BASELINE), str(BASELINE)], tmp_path)
    assert compare.returncode == 0, compare.stderr
