"""Exporters with the real converters and runtimes: torch.onnx + ONNX Runtime, litert-torch +
ai-edge-quantizer + the LiteRT interpreter. Cache mechanics use a tiny model (fast conversions);
format and parity checks use ghostnet_050, the smallest registered real network."""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from ghostbench.commands import cli
from ghostbench.core import atomic
from ghostbench.core.artifact import Artifact, Parity
from ghostbench.core.errors import GhostbenchError
from ghostbench.exporters import FORMATS, ExportError, cache, capture, export, lookup, parity, resolve_options
from ghostbench.models import registry
from ghostbench.models import source as model_source
from ghostbench.models.registry import ModelSpec

REAL = "ghostnet_050"


class TinyNet(nn.Module):
    """Conv-BN-ReLU, pool, linear: converts in a couple of seconds."""

    def __init__(self, num_classes: int = 10, noise: bool = False) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.fc = nn.Linear(8, num_classes)
        self.noise = noise

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(self.features(x))
        # A graph that cannot match eager: random numbers drawn inside the model.
        return y + 10 * torch.rand_like(y) if self.noise else y


def tiny(num_classes: int = 10, noise: bool = False) -> TinyNet:
    return TinyNet(num_classes, noise=noise)


TINY = ModelSpec(name="tiny_net", family="test", builder=tiny, input_size=32, num_classes=10)
NOISY = ModelSpec(
    name="noisy_net", family="test", builder=tiny, input_size=32, num_classes=10, kwargs={"noise": True}
)


def _files(root: Path) -> dict[str, tuple[int, str]]:
    """Every file under ``root`` (locks aside) with its mtime and sha256: a fingerprint of the cache."""
    return {
        str(p.relative_to(root)): (p.stat().st_mtime_ns, cache.file_sha256(p))
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".locks" not in p.parts
    }


# --- fixed-seed inputs and parity figures --------------------------------------------------------


def test_example_input_is_fixed_by_seed_not_global_rng():
    spec = registry.get(REAL)
    torch.manual_seed(123)
    a = parity.example_input(spec, seed=0)
    torch.manual_seed(456)
    b = parity.example_input(spec, seed=0)
    assert a.shape == (1, 3, spec.input_size, spec.input_size) and a.dtype == torch.float32
    assert torch.equal(a, b)
    assert not torch.equal(a, parity.example_input(spec, seed=1))


def test_calibration_set_never_contains_the_parity_input():
    samples = parity.calibration_inputs(TINY, 4, seed=0)
    assert len(samples) == 4
    for seed in range(4):
        probe = parity.example_input(TINY, seed)
        assert not any(torch.equal(probe, s) for s in samples)
    assert all(
        torch.equal(a, b) for a, b in zip(samples, parity.calibration_inputs(TINY, 4, seed=0), strict=True)
    )


def test_compare_definitions_and_verdicts():
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(1, 1000)).astype(np.float32)
    exact = parity.compare(ref, ref.copy(), "fp32")
    assert exact.passed and exact.max_abs == 0 and exact.cosine == pytest.approx(1.0)

    noisy = ref + rng.normal(scale=0.01, size=ref.shape).astype(np.float32)
    p = parity.compare(ref, noisy, "fp32")
    assert p.max_abs == pytest.approx(float(np.abs(noisy - ref).max()), rel=1e-6)
    assert p.max_rel == pytest.approx(p.max_abs / float(np.abs(ref).max()), rel=1e-6)
    assert not p.passed  # ~1% error is too much for fp32 ...
    assert parity.compare(ref, noisy, "int8").passed  # ... and fine for int8
    assert p.threshold == {"cosine_min": 0.9999, "max_rel_max": 1e-3}

    assert not parity.compare(ref, -ref, "int8").passed
    assert not parity.compare(ref, np.full_like(ref, np.nan), "int8").passed
    assert not parity.compare(ref, ref[:, :10], "int8").passed


def test_derived_artifact_fails_with_its_source():
    good = Parity(max_abs=0.0, max_rel=0.0, cosine=1.0, passed=True)
    assert parity.verdict(good, "int8").passed
    failed_source = parity.verdict(good, "int8", source_passed=False)
    assert not failed_source.passed and failed_source.threshold["source_passed"] is False


def test_runtime_input_layout_and_quantization_round_trip():
    x = parity.example_input(TINY, 0)
    meta = {"input_layout": "nhwc", "input_dtype": "int8", "input_quant": {"scale": 0.05, "zero_point": 3}}
    q = parity.to_runtime_input(x, meta)
    assert q.dtype == np.int8 and q.shape == (1, 32, 32, 3)
    back = parity.from_runtime_output(q, {"output_quant": meta["input_quant"]}).transpose(0, 3, 1, 2)
    inside = (x.numpy() > (-128 - 3) * 0.05) & (x.numpy() < (127 - 3) * 0.05)
    assert np.abs(back - x.numpy())[inside].max() <= 0.05 / 2 + 1e-6
    plain = parity.to_runtime_input(x, {"input_layout": "nchw", "input_dtype": "float32"})
    assert np.array_equal(plain, x.numpy())


# --- cache keys ----------------------------------------------------------------------------------


def _key(spec: ModelSpec = TINY, **changes) -> str:
    args = {"seed": 0, "options": {"opset": 20}, "versions": {"torch": "2.13"}} | changes
    return cache.cache_key(spec, "onnx", "fp32", **args)


def test_cache_key_changes_with_each_input():
    base = _key()
    assert base == _key()
    assert len({base, _key(seed=1), _key(options={"opset": 18}), _key(versions={"torch": "2.12"})}) == 4
    assert base != _key(source_key="abc")
    assert base != cache.cache_key(
        TINY, "onnx", "fp16", seed=0, options={"opset": 20}, versions={"torch": "2.13"}
    )


def test_model_source_closure_covers_shared_blocks():
    modules = model_source.model_modules(registry.get(REAL))
    assert {"ghostbench.models.ghostnet", "ghostbench.models.blocks", "ghostbench.models.registry"} <= set(
        modules
    )


def test_cache_key_changes_with_model_source(tmp_path, monkeypatch):
    source = tmp_path / "gb_tmp_model.py"
    source.write_text("from torch import nn\n\ndef net():\n    return nn.Conv2d(3, 4, 3)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("gb_tmp_model")
    spec = ModelSpec(name="tmp_model", family="test", builder=module.net)
    before = _key(spec)
    assert before == _key(spec)
    source.write_text("from torch import nn\n\ndef net():\n    return nn.Conv2d(3, 8, 3)\n")
    assert _key(spec) != before
    monkeypatch.delitem(sys.modules, "gb_tmp_model")


def test_every_registered_model_has_a_distinct_key():
    keys = {name: _key(registry.get(name)) for name in registry.select("*")}
    assert len(set(keys.values())) == len(keys)


def test_default_cache_dir(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "x"))
    assert cache.default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv(cache.ENV_VAR)
    import platformdirs

    assert cache.default_cache_dir().is_relative_to(platformdirs.user_cache_dir("ghostbench"))


# --- bad input never touches the cache -----------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("no_such_model", "onnx"), "unknown model"),
        ((REAL, "coreml"), "unknown format"),
        ((REAL, "onnx", "int8_dynamic"), "does not support precision"),
    ],
)
def test_bad_input_raises_before_touching_cache(tmp_path, args, message):
    with pytest.raises(GhostbenchError, match=message):
        export(*args, cache_dir=tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


def test_unknown_or_invalid_option_is_rejected():
    with pytest.raises(GhostbenchError, match="unknown tflite fp32 option"):
        resolve_options("tflite", "fp32", {"calibration_samples": 4})
    with pytest.raises(GhostbenchError, match="layout"):
        resolve_options("tflite", "fp32", {"layout": "nwhc"})
    with pytest.raises(GhostbenchError, match="opset"):
        resolve_options("onnx", "fp32", {"opset": 11})
    with pytest.raises(GhostbenchError, match="calibration_samples"):
        resolve_options("onnx", "int8", {"calibration_samples": 0})
    with pytest.raises(GhostbenchError, match="optimization_level"):
        resolve_options("tensorrt", "fp16", {"optimization_level": 9})
    assert resolve_options("tflite", "int8", {"calibration_samples": 4})["calibration_samples"] == 4


@pytest.mark.parametrize(
    "argv",
    [
        ["export", "ghostnet_999", "--format", "onnx"],
        ["export", REAL, "--format", "coreml"],
        ["export", REAL, "--format", "onnx", "--precision", "int4"],
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path, capsys, argv):
    assert cli.main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("ERROR: ") and err.count("\n") == 1
    assert not (tmp_path / "cache").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="a read-only filesystem for root needs a real mount")
def test_a_read_only_cache_is_one_line_naming_the_fix(tmpfs, capsys):
    read_only = tmpfs("ro,size=1m")
    assert cli.main(["export", REAL, "--format", "onnx", "--cache-dir", str(read_only)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1
    assert err.startswith(f"ERROR: cannot write the artifact cache {read_only}: Read-only file system;")
    assert "--cache-dir" in err


# --- cache behaviour (tiny model) ----------------------------------------------------------------


def test_export_then_cache_hit(tmp_path):
    first = export(TINY, "onnx", cache_dir=tmp_path)
    assert first.path.is_file() and first.path.parent.parent == tmp_path / "tiny_net"
    assert cache.file_sha256(first.path) == first.sha256 and first.path.stat().st_size == first.size_bytes
    sidecar = json.loads((first.path.parent / cache.SIDECAR).read_text())
    assert Artifact.from_dict(sidecar) == first
    assert not [p for p in first.path.parent.iterdir() if p.name.startswith(".")]  # no temp files left
    assert first.path.stat().st_mode & 0o777 == atomic.FILE_MODE  # readable by the tools that copy it

    assert lookup(TINY, "onnx", cache_dir=tmp_path) == first
    start = time.perf_counter()
    second = export(TINY, "onnx", cache_dir=tmp_path)
    assert time.perf_counter() - start < 1.0
    assert second == first

    other = export(TINY, "onnx", cache_dir=tmp_path, options={"optimize": False})
    assert other.key != first.key and other.path != first.path
    assert other.options["optimize"] is False and first.path.is_file()
    assert export(TINY, "onnx", cache_dir=tmp_path, seed=1).key != first.key


def test_parity_deferred_then_recorded(tmp_path):
    art = export(TINY, "onnx", cache_dir=tmp_path, check_parity=False)
    assert art.parity is None
    checked = export(TINY, "onnx", cache_dir=tmp_path)
    assert checked.key == art.key and checked.export_s == art.export_s  # same file, not rebuilt
    assert checked.parity is not None and checked.parity.passed
    assert lookup(TINY, "onnx", cache_dir=tmp_path).parity == checked.parity


@pytest.fixture(scope="module")
def victim_and_bystander(tmp_path_factory) -> Path:
    """A cache with two entries of one model, exported once and copied for each damage."""
    root = tmp_path_factory.mktemp("two-entries")
    export(TINY, "onnx", cache_dir=root)
    export(TINY, "onnx", cache_dir=root, options={"optimize": False})
    return root


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "sidecar"])
def test_corrupt_entry_is_rebuilt_and_nothing_else_touched(tmp_path, caplog, damage, victim_and_bystander):
    shutil.copytree(victim_and_bystander, tmp_path, dirs_exist_ok=True)
    victim = lookup(TINY, "onnx", cache_dir=tmp_path)
    bystander = lookup(TINY, "onnx", cache_dir=tmp_path, options={"optimize": False})
    untouched = {
        k: v
        for k, v in _files(tmp_path).items()
        if k.startswith(str(bystander.path.parent.relative_to(tmp_path)))
    }
    assert len(untouched) == 3  # the bystander's file, sidecar and export.log
    data = victim.path.read_bytes()
    if damage == "truncate":
        victim.path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":
        victim.path.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    elif damage == "delete":
        victim.path.unlink()
    else:
        (victim.path.parent / cache.SIDECAR).write_text("{not json")
    assert lookup(TINY, "onnx", cache_dir=tmp_path) is None

    with caplog.at_level(logging.WARNING, logger="ghostbench.exporters.cache"):
        rebuilt = export(TINY, "onnx", cache_dir=tmp_path)
    assert "rebuilding" in caplog.text
    assert rebuilt.key == victim.key and rebuilt.path == victim.path
    assert cache.file_sha256(rebuilt.path) == rebuilt.sha256 and rebuilt.parity.passed
    after = _files(tmp_path)
    assert all(after[name] == fingerprint for name, fingerprint in untouched.items())


def test_cached_verdict_follows_current_thresholds(tmp_path, monkeypatch):
    art = export(TINY, "onnx", cache_dir=tmp_path)
    sidecar = art.path.parent / cache.SIDECAR
    stale = json.loads(sidecar.read_text())
    stale["parity"] |= {"passed": False, "threshold": {"cosine_min": 2.0, "max_rel_max": 0.0}}
    sidecar.write_text(json.dumps(stale))
    monkeypatch.setattr(parity, "check", lambda *args: pytest.fail("the recorded parity was measured again"))
    again = export(TINY, "onnx", cache_dir=tmp_path)
    assert again.parity.passed and again.parity.threshold == {"cosine_min": 0.9999, "max_rel_max": 1e-3}
    assert (again.parity.cosine, again.export_s) == (art.parity.cosine, art.export_s)
    assert json.loads(sidecar.read_text())["parity"]["passed"] is True


def test_parity_failure_is_recorded_and_shown(tmp_path):
    from ghostbench.commands.export import summary

    art = export(NOISY, "onnx", cache_dir=tmp_path)
    assert art.parity is not None and not art.parity.passed
    assert art.parity.cosine < parity.THRESHOLDS["fp32"].cosine_min
    assert json.loads((art.path.parent / cache.SIDECAR).read_text())["parity"]["passed"] is False
    assert "[FAILED]" in summary(art, cached=True)


def test_converter_failure_is_an_export_error(tmp_path):
    def broken(num_classes: int) -> nn.Module:
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Linear(7, 2))  # shapes do not fit: tracing fails

    spec = ModelSpec(name="broken_net", family="test", builder=broken, input_size=16)
    with pytest.raises(ExportError, match="broken_net -> onnx fp32 failed") as failure:
        export(spec, "onnx", cache_dir=tmp_path)
    # No half-written entry: only the converter's log, which the message points to.
    (entry,) = (tmp_path / "broken_net").iterdir()
    assert [p.name for p in entry.iterdir()] == [capture.LOG_NAME]
    assert f"(converter output: {entry / capture.LOG_NAME})" in str(failure.value)


class AbortingNet(TinyNet):
    """Ends its process the way an XLA CHECK failure does, as soon as the converter runs it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        print("F0000 fatal: Check failed: pthread_create() failed (the test's abort)", flush=True)
        os.abort()


def aborting(num_classes: int = 10) -> AbortingNet:
    return AbortingNet(num_classes)


def test_a_converter_that_aborts_is_one_failed_export(tmp_path):
    """A TFLite conversion that calls abort() ends its child, not this process (exporters/isolate.py)."""
    spec = ModelSpec(name="aborting_net", family="test", builder=aborting, input_size=32, num_classes=10)
    with pytest.raises(ExportError) as failure:
        export(spec, "tflite", cache_dir=tmp_path, check_parity=False)
    message = str(failure.value)
    assert message.startswith(
        "aborting_net -> tflite fp32 failed: the converter process died (killed by SIGABRT)"
    )
    assert "; last output: F0000 fatal: Check failed: pthread_create() failed (the test's abort)" in message
    assert "\n" not in message
    (entry,) = (tmp_path / "aborting_net").iterdir()
    assert [p.name for p in entry.iterdir()] == [capture.LOG_NAME]  # no half-written file


def test_ctrl_c_during_an_export_leaves_no_half_written_file(tmp_path):
    def interrupted(num_classes: int) -> nn.Module:
        raise KeyboardInterrupt

    spec = ModelSpec(name="ki_net", family="test", builder=interrupted, input_size=16)
    with pytest.raises(KeyboardInterrupt):
        export(spec, "onnx", cache_dir=tmp_path)
    (entry,) = (tmp_path / "ki_net").iterdir()
    assert [p.name for p in entry.iterdir()] == [capture.LOG_NAME]


def test_converter_output_goes_to_the_log_not_the_terminal(tmp_path, capfd):
    """Python writes (print, sys.stderr) and C writes (descriptors 1 and 2, C stdio) alike, as
    litert-torch, TensorFlow and XNNPACK make them; afterwards both streams are the terminal's again."""
    import ctypes

    log = tmp_path / "entry" / capture.LOG_NAME
    print("before", flush=True)
    with capture.converter_output(log):
        print("python stdout")
        print("python stderr", file=sys.stderr)
        os.write(1, b"fd 1\n")
        os.write(2, b"fd 2\n")
        ctypes.CDLL(None).printf(b"C stdio\n")
    print("after", flush=True)
    print("after on stderr", file=sys.stderr, flush=True)
    out, err = capfd.readouterr()
    assert out.split() == ["before", "after"]
    assert err.strip() == "after on stderr"
    assert sorted(log.read_text().splitlines()) == sorted(
        ["python stdout", "python stderr", "fd 1", "fd 2", "C stdio"]
    )


def test_a_terminal_console_keeps_drawing_during_a_capture(tmp_path, capfd):
    from ghostbench.bench.console import terminal

    console = terminal(stderr=True)
    with capture.converter_output(tmp_path / capture.LOG_NAME):
        console.print("progress", markup=False)
        console.file.flush()
    assert "progress" in capfd.readouterr().err
    assert "progress" not in (tmp_path / capture.LOG_NAME).read_text()


def test_tflite_layouts_and_transpose_count(tmp_path):
    nhwc = export(TINY, "tflite", cache_dir=tmp_path)
    nchw = export(TINY, "tflite", cache_dir=tmp_path, options={"layout": "nchw"})
    assert nhwc.meta["input_layout"] == "nhwc" and nhwc.meta["input_shape"] == [1, 32, 32, 3]
    assert nchw.meta["input_layout"] == "nchw" and nchw.meta["input_shape"] == [1, 3, 32, 32]
    assert nhwc.meta["transpose_ops"] == nhwc.meta["ops"].get("TRANSPOSE", 0) == 0
    assert nchw.meta["transpose_ops"] >= 1  # the NCHW graph pays a layout transpose
    assert nhwc.parity.passed and nchw.parity.passed


def test_quantized_tflite_calibration_option_is_a_miss(tmp_path):
    a = export(TINY, "tflite", "int8", cache_dir=tmp_path, options={"calibration_samples": 2})
    b = export(TINY, "tflite", "int8", cache_dir=tmp_path, options={"calibration_samples": 3})
    assert a.key != b.key and a.meta["source"]["key"] == b.meta["source"]["key"]
    assert a.meta["input_dtype"] == "int8" and a.meta["input_quant"]["scale"] > 0


# --- real network: every format and precision the CPU can check ----------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("precision", FORMATS["onnx"])
def test_onnx_real_model(artifact_cache, precision):
    import onnx

    art = export(REAL, "onnx", precision, cache_dir=artifact_cache)
    model = onnx.load(art.path)
    onnx.checker.check_model(model, full_check=True)
    assert not list(art.path.parent.glob("*.data"))  # self-contained: no external-data sidecar
    assert art.meta["opset"] == 20 and art.meta["input_name"] == "input"
    assert art.meta["input_shape"] == [1, 3, 224, 224] and art.meta["input_dtype"] == "float32"
    assert art.parity.passed, art.parity
    if precision == "fp32":
        assert art.parity.cosine >= 0.9999
    else:
        assert art.meta["source"]["precision"] == "fp32"
        fp32 = lookup(REAL, "onnx", cache_dir=artifact_cache)
        assert art.size_bytes < 0.6 * fp32.size_bytes
        assert ("QuantizeLinear" in art.meta["ops"]) == (precision == "int8")


@pytest.mark.slow
@pytest.mark.parametrize("precision", FORMATS["tflite"])
def test_tflite_real_model(artifact_cache, precision):
    art = export(REAL, "tflite", precision, cache_dir=artifact_cache)
    assert art.meta["input_layout"] == "nhwc" and art.meta["input_shape"] == [1, 224, 224, 3]
    assert art.meta["transpose_ops"] == 0
    assert art.parity.passed, art.parity
    assert art.meta["input_dtype"] == ("int8" if precision == "int8" else "float32")
    if precision == "fp32":
        assert art.parity.cosine >= 0.9999
    else:
        fp32 = lookup(REAL, "tflite", cache_dir=artifact_cache)
        assert art.size_bytes < (0.6 if precision == "fp16" else 0.4) * fp32.size_bytes
    # The interpreter, fed through the recorded input spec, reproduces the recorded figures exactly.
    out = parity.run_artifact(art, parity.example_input(registry.get(REAL), 0))
    again = parity.compare(parity.reference_output(registry.get(REAL)), out, precision)
    assert (again.cosine, again.max_abs, again.max_rel) == (
        art.parity.cosine,
        art.parity.max_abs,
        art.parity.max_rel,
    )


@pytest.mark.slow
def test_cli_single_and_all(artifact_cache, capsys, monkeypatch):
    export(REAL, "onnx", cache_dir=artifact_cache)
    assert cli.main(["export", REAL, "--format", "onnx", "--cache-dir", str(artifact_cache)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert Path(lines[-1]).is_file()
    assert Path(lines[-1]) == lookup(REAL, "onnx", cache_dir=artifact_cache).path
    assert lines[0].startswith(f"{REAL} onnx fp32: ") and " MB, cache hit (export " in lines[0]
    assert " s)" in lines[0] and "parity cos " in lines[0] and lines[0].endswith("[ok]")

    monkeypatch.setattr(registry, "select", lambda *a, **k: [REAL])
    assert cli.main(["export", "--all", "--format", "onnx", "--cache-dir", str(artifact_cache)]) == 0
    out = capsys.readouterr().out
    assert f"{REAL} onnx fp32: " in out and "1/1 models exported to onnx fp32" in out


def test_cli_all_reports_failures(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(registry, "select", lambda *a, **k: ["tiny_a"])
    # A "model" that cannot take an image: the converter fails on it.
    broken = ModelSpec(name="tiny_a", family="t", builder=lambda num_classes: nn.Linear(2, 2))
    monkeypatch.setattr(registry, "get", lambda name: broken)
    assert cli.main(["export", "--all", "--format", "onnx", "--cache-dir", str(tmp_path)]) == 2
    captured = capsys.readouterr()
    assert "0/1 models exported" in captured.out and "ERROR: tiny_a -> onnx fp32 failed" in captured.err


def test_cli_needs_model_or_all(capsys):
    assert cli.main(["export", "--format", "onnx"]) == 2
    assert "give one MODEL or --all" in capsys.readouterr().err


def test_cache_copy_is_position_independent(tmp_path):
    art = export(TINY, "onnx", cache_dir=tmp_path / "a")
    shutil.copytree(tmp_path / "a", tmp_path / "b")
    moved = lookup(TINY, "onnx", cache_dir=tmp_path / "b")
    assert moved is not None and moved.path == tmp_path / "b" / art.path.relative_to(tmp_path / "a")
