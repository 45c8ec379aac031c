"""Bring your own model (``models/user.py``): a callable from a module file or a dotted module, a
plugin package installed by pip with its entry point, an ONNX file written by torch's TorchScript
exporter (not ghostbench's dynamo path) and a TFLite file, each run through ``ghostbench run`` and
reported; and the one-line errors a user meets on the way."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest

from ghostbench.core.errors import GhostbenchError
from ghostbench.models import registry, user
from ghostbench.reports import fmt

NETS = '''
import torch
from torch import nn


def tiny_net():
    """Two convs and a classifier: small enough to export and time in seconds."""
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, stride=2, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


tiny_net.input_size = 64


def lots_of_classes(num_classes=1000):
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


def not_a_module():
    return "a string"


def zoo_family():
    return tiny_net()


zoo_family.family = "c-ghost"
NOT_CALLABLE = 3
'''


@pytest.fixture(autouse=True)
def no_user_models():
    """Each test starts and ends with no user models registered in this process."""
    user.deactivate()
    yield
    user.deactivate()


@pytest.fixture
def nets(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "my_nets.py"
    path.parent.mkdir()
    path.write_text(NETS)
    yield path
    sys.modules.pop("my_nets", None)


def test_reference_kinds_and_names() -> None:
    assert user.is_reference("pkg.mod:build") and user.is_reference("nets/a.py:build")
    assert user.is_reference("model.ONNX") and user.is_reference("mine=model.tflite")
    assert not user.is_reference("ghostnet_*") and not user.is_reference("regnetx_032")
    assert user.snake_name("MyNet-v2") == "my_net_v2"
    assert user.snake_name("2fast") == "m_2fast"


def test_a_callable_from_a_module_file_is_registered_with_its_attributes(nets: Path) -> None:
    names = user.activate([f"{nets}:tiny_net", "ghostnet_050", f"big={nets}:lots_of_classes"])
    assert names == ["tiny_net", "ghostnet_050", "big"]
    spec = registry.get("tiny_net")
    assert (spec.family, spec.input_size, spec.origin) == ("user", 64, f"user {nets}:tiny_net")
    assert spec.builder_kwargs() == {}  # tiny_net takes no num_classes
    assert registry.get("big").builder_kwargs() == {"num_classes": 1000}
    model = spec.build()
    assert not model.training
    # A child process sees the same models: the environment carries them.
    assert json.loads(os.environ[user.ENV_VAR])["refs"] == [f"{nets}:tiny_net", f"big={nets}:lots_of_classes"]


def test_a_dotted_module_is_imported_from_the_working_directory(
    nets: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(nets.parent)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (name,) = user.activate(["my_nets:tiny_net"], input_size=96)
    assert registry.get(name).input_size == 96  # --input-size wins over the attribute


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("{nets}:missing", "has no 'missing'"),
        ("{nets}:NOT_CALLABLE", "NOT_CALLABLE is a int, not a function"),
        ("{dir}/absent.py:build", "module file not found"),
        ("no_such_module_here:build", "cannot import no_such_module_here: ModuleNotFoundError"),
        ("{nets}:zoo_family", "family 'c-ghost' belongs to the zoo"),
        ("{nets}", "expected package.module:callable"),
        ("{dir}/broken.py:build", "cannot import {dir}/broken.py: RuntimeError: boom"),
        ("ghostnet_050={nets}:tiny_net", "model name 'ghostnet_050' of your"),
        ("Bad-Name={nets}:tiny_net", "model names are snake_case"),
    ],
)
def test_a_bad_reference_is_a_one_line_error(nets: Path, ref: str, message: str) -> None:
    (nets.parent / "broken.py").write_text('raise RuntimeError("boom\\nsecond line")\n')
    where = {"nets": nets, "dir": nets.parent}
    ref = ref.format(**where) if ref != "{nets}" else str(nets)
    with pytest.raises(GhostbenchError, match=message.format(**where).replace("(", r"\(")) as info:
        user.activate([ref])
    assert "\n" not in str(info.value)
    sys.modules.pop("broken", None)


def test_a_run_records_the_user_models_and_resume_registers_them_again(nets: Path) -> None:
    user.activate([f"mine={nets}:tiny_net"], input_size=80)
    recorded = user.recorded()
    user.deactivate()
    assert "mine" not in registry.names() and user.ENV_VAR not in os.environ
    user.restore(recorded)
    assert registry.get("mine").input_size == 80


def test_a_callable_that_returns_no_module_fails_when_built(nets: Path) -> None:
    (name,) = user.activate([f"{nets}:not_a_module"])
    with pytest.raises(GhostbenchError, match=r"returned str, not a torch\.nn\.Module"):
        registry.get(name).build()


def _accuracy(path: Path, rows: list[tuple], header: tuple = ("model", "top1", "source")) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def test_accuracy_rows_are_given_with_their_source(nets: Path, tmp_path: Path) -> None:
    csv_path = _accuracy(tmp_path / "acc.csv", [("tiny_net", 61.5, "my training log, 2026-12-01")])
    user.activate([f"{nets}:tiny_net"], accuracy=csv_path)
    ref = registry.get("tiny_net").reference
    assert (ref.top1, ref.source, ref.source_kind) == (61.5, "my training log, 2026-12-01", "given")


@pytest.mark.parametrize(
    ("rows", "header", "message"),
    [
        ([("tiny_net", 61.5)], ("model", "top1"), "missing source"),
        ([("tiny_net", "high", "x")], ("model", "top1", "source"), "line 2: top1 'high' is not a percentage"),
        ([("tiny_net", 61.5, "")], ("model", "top1", "source"), "needs a model and a source"),
        ([("ghostnet_100", 80.0, "x")], ("model", "top1", "source"), "zoo models keep their published"),
    ],
)
def test_a_bad_accuracy_file_is_a_one_line_error(
    nets: Path, tmp_path: Path, rows: list, header: tuple, message: str
) -> None:
    csv_path = _accuracy(tmp_path / "acc.csv", rows, header)
    with pytest.raises(GhostbenchError, match=message):
        user.activate([f"{nets}:tiny_net"], accuracy=csv_path)


def test_claim_families_are_the_verdicts_roles() -> None:
    from ghostbench.reports import verdict

    roles = {"c-ghost", "g-ghost", "regnet", *verdict.CPU_BASELINES}
    assert set(user.CLAIM_FAMILIES) == roles
    assert "family c-ghost" in verdict.RULE_C_GHOST and "family g-ghost" in verdict.RULE_G_GHOST


# End to end: the commands a user runs, in fresh processes, as they run them.


def _ghostbench(*args: str, env: dict | None = None, cwd: Path | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ghostbench", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=600,
    )
    assert done.returncode == 0, f"ghostbench {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


QUICK = ("--rounds", "1", "--time-cap", "0.3", "--min-time", "0.1")


def _rows(run: Path) -> dict[str, dict]:
    with (run / "latency.csv").open() as fh:
        return {row["cell"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_own_models_run_and_report_beside_each_other(nets: Path, tmp_path: Path) -> None:
    """A callable from a module file (torch and ONNX Runtime, with a given top-1), an ONNX file
    from torch's TorchScript exporter, and a TFLite file, timed into one folder and reported."""
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    pytest.importorskip("ai_edge_litert", reason="needs ai-edge-litert (pip install 'ghostbench[tflite]')")
    import torch
    from torch import nn

    cache, out = ("--cache-dir", str(tmp_path / "cache")), tmp_path / "run"
    acc = _accuracy(tmp_path / "acc.csv", [("tiny", 61.5, "my training log")])
    ref = f"tiny={nets}:tiny_net"
    _ghostbench("run", "--models", ref, "--backends", "torch,onnxruntime", "--accuracy", str(acc),
                *QUICK, *cache, "--out", str(out))  # fmt: skip
    # An ONNX file ghostbench did not write: torch's TorchScript exporter, a symbolic batch.
    other = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    onnx_path = tmp_path / "theirs" / "TheirNet.onnx"
    onnx_path.parent.mkdir()
    with warnings.catch_warnings():  # torch deprecates the TorchScript exporter: that is the point
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(other.eval(), (torch.randn(1, 3, 48, 48),), str(onnx_path), dynamo=False,
                          input_names=["x"], dynamic_axes={"x": {0: "batch"}})  # fmt: skip
    _ghostbench("run", "--models", str(onnx_path), "--backends", "onnxruntime", *QUICK, *cache,
                "--out", str(out))  # fmt: skip
    # A TFLite file: the callable exported by ghostbench, copied away from its cache entry.
    exported = Path(_ghostbench("export", ref, "-f", "tflite", *cache).strip().splitlines()[-1])
    tflite_path = tmp_path / "theirs" / "tiny_copy.tflite"
    shutil.copy(exported, tflite_path)
    _ghostbench("run", "--models", str(tflite_path), "--backends", "tflite", *QUICK, *cache,
                "--out", str(out))  # fmt: skip

    rows = _rows(out)
    torch_row, ort_row = rows["tiny/torch/cpu/fp32/t1"], rows["tiny/onnxruntime/cpu/fp32/t1"]
    params = sum(p.numel() for p in registry_free_build(nets).parameters())
    for row in (torch_row, ort_row):
        assert (row["status"], row["family"], row["top1_kind"]) == ("ok", "user", "given")
        assert float(row["top1"]) == 61.5
        assert int(row["params"]) == params
    assert float(ort_row["parity_cosine"]) > 0.999  # a callable is parity-checked like a zoo model
    file_row = rows["their_net/onnxruntime/cpu/fp32/t1"]
    assert file_row["status"] == "ok" and "no_parity" in file_row["flags"].split(";")
    assert file_row["parity_cosine"] == "" and file_row["top1"] == ""
    assert int(file_row["macs"]) == 48 * 48 * 6 * 27 and int(file_row["activations"]) == 48 * 48 * 6
    tfl_row = rows["tiny_copy/tflite/cpu/fp32/t1"]
    assert tfl_row["status"] == "ok" and tfl_row["family"] == "user"
    assert int(tfl_row["macs"]) == int(torch_row["macs"])

    _ghostbench("report", str(out), "--output", str(tmp_path / "report.html"))
    html = (tmp_path / "report.html").read_text()
    assert "their_net" in html and "tiny_copy" in html
    # One accuracy panel per backend: each names its model that has no top-1.
    assert "Not plotted, no accuracy given: their_net (" in html
    assert "Not plotted, no accuracy given: tiny_copy (" in html
    assert "my training log" in html
    # The cells table carries each model's complexity, the file's as read from its graph.
    assert f'data-v="{float(48 * 48 * 6 * 27)!r}">{fmt.count(48 * 48 * 6 * 27)}</td>' in html


def registry_free_build(nets: Path):
    """The callable itself, imported as a user would, to count its parameters independently."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nets_copy", nets)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_net()


PLUGIN_PYPROJECT = """
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "gb-plugin-demo"
version = "0.1.0"

[project.entry-points."ghostbench.models"]
demo = "gb_plugin_demo:models"
"""
PLUGIN_MODULE = """
from torch import nn

from ghostbench.models.registry import ModelSpec, PublishedMetric


def plugin_net(num_classes=1000):
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                         nn.Linear(8, num_classes))


def models():
    return [ModelSpec(name="plugin_net", family="demo-nets", builder=plugin_net, input_size=32,
                      accuracy=(PublishedMetric(top1=12.5, source="gb-plugin-demo README"),))]
"""


@pytest.mark.slow
def test_a_plugin_installed_by_pip_is_listed_and_run(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="needs onnxruntime (pip install 'ghostbench[onnx]')")
    package = tmp_path / "plugin"
    (package / "gb_plugin_demo").mkdir(parents=True)
    (package / "pyproject.toml").write_text(PLUGIN_PYPROJECT)
    (package / "gb_plugin_demo" / "__init__.py").write_text(textwrap.dedent(PLUGIN_MODULE))
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(site), str(package)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    env = {"PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    cache = ("--cache-dir", str(tmp_path / "cache"))
    listed = list(csv.DictReader(_ghostbench("models", "--format", "csv", env=env).splitlines()))
    mine = next(r for r in listed if r["name"] == "plugin_net")
    assert (mine["family"], mine["origin"], mine["top1"]) == ("demo-nets", "plugin gb-plugin-demo", "12.5")
    assert mine["top1_source"] == "gb-plugin-demo README"
    assert next(r for r in listed if r["name"] == "ghostnet_100")["origin"] == "zoo"
    out = tmp_path / "run"
    _ghostbench("run", "--models", "plugin_net", "--backends", "onnxruntime", *QUICK, *cache,
                "--out", str(out), env=env)  # fmt: skip
    row = _rows(out)["plugin_net/onnxruntime/cpu/fp32/t1"]
    assert (row["status"], row["family"], row["top1_kind"]) == ("ok", "demo-nets", "published")
    assert float(row["top1"]) == 12.5
    _ghostbench("report", str(out), "--output", str(tmp_path / "report.html"), env=env)
    html = (tmp_path / "report.html").read_text()
    assert "plugin_net" in html and "gb-plugin-demo README" in html
    assert f'data-v="{float(row["macs"])!r}">{fmt.count(int(row["macs"]))}</td>' in html
