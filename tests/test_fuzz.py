"""Fuzzing what ghostbench reads (issue 17): random damage to ``run.json``, ``latency.csv`` /
``latency.parquet``, ``samples.parquet``, ``accuracy.csv``, ``noise.json`` and artifact-cache
entries, and random command lines, fed to ``report``, ``compare``, ``bench --resume``, ``export``
and every command's argument parser.

The property, for every example: the command returns 0 or 2 (``compare`` also 1, a slowdown),
never raises (no traceback), says why in exactly one ``ERROR:`` line when it refuses, and leaves
the files it only reads as they were.

Bounded for CI: a fixed number of examples per target, drawn the same way on every run
(``derandomize``), so a failure here is repeatable. ``GHOSTBENCH_FUZZ_EXAMPLES=N`` runs N per
target instead, for a longer hunt. Where a target would otherwise measure or export (``bench
--resume`` of a damaged plan, the command-line fuzz), windows and exports are replaced by instant
failures: what is fuzzed is how ghostbench reads its input, not the runtimes (the real ones run in
test_bench.py, test_run_cli.py and test_exporters.py).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from comparedata import SynthCell, write_run
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ghostbench.bench.run_noise import NOISE_FILE, RunNoise
from ghostbench.bench.store import (
    ACCURACY_CSV,
    LATENCY_CSV,
    LATENCY_PARQUET,
    LOCK_FILE,
    RUN_JSON,
    SAMPLES_PARQUET,
)
from ghostbench.commands import cli
from ghostbench.core.window import WindowOutcome

EXAMPLES = int(os.environ.get("GHOSTBENCH_FUZZ_EXAMPLES", "0"))


def fuzz(examples: int) -> settings:
    return settings(
        max_examples=EXAMPLES or examples,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )


# ---- damage -------------------------------------------------------------------------------------

# Values an edited or broken file might hold where another was expected.
ODD_TEXT = st.sampled_from(
    [
        "",
        " ",
        "nan",
        "inf",
        "-1",
        "0",
        "1e309",
        "ok",
        "error",
        "\x1b[2J",
        "<b>",
        "../..",
        "ghostnet_050",
        "null",
    ]
)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | ODD_TEXT
    | st.text(max_size=12)
)
JSON_VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _slots(node: object, out: list) -> list:
    """Every (container, key) in a JSON document, depth first."""
    if isinstance(node, dict):
        for key in list(node):
            out.append((node, key))
            _slots(node[key], out)
    elif isinstance(node, list):
        for i in range(len(node)):
            out.append((node, i))
            _slots(node[i], out)
    return out


def damage_json(data: st.DataObject, text: str) -> str:
    """Replace or delete one value anywhere in the document, or replace the whole document."""
    doc = json.loads(text)
    slots = _slots(doc, [])
    how = data.draw(st.sampled_from(["replace", "delete", "whole"] if slots else ["whole"]), label="json")
    if how == "whole":
        doc = data.draw(JSON_VALUES, label="document")
    else:
        container, key = data.draw(st.sampled_from(slots), label="slot")
        if how == "delete":
            del container[key]
        else:
            container[key] = data.draw(JSON_VALUES, label="value")
    return json.dumps(doc)  # NaN and Infinity as Python writes them: JSON that is not quite JSON


def damage_table(data: st.DataObject, frame: pd.DataFrame) -> pd.DataFrame:
    """One cell set to an odd value, a column dropped or renamed, or the rows removed."""
    how = data.draw(st.sampled_from(["cell", "drop", "rename", "empty", "negative"]), label="table")
    frame = frame.copy()
    column = data.draw(st.sampled_from(list(frame.columns)), label="column")
    if how == "cell" and len(frame):
        row = data.draw(st.integers(0, len(frame) - 1), label="row")
        frame[column] = frame[column].astype(object)
        frame.iloc[row, frame.columns.get_loc(column)] = data.draw(SCALARS, label="value")
    elif how == "drop":
        frame = frame.drop(columns=[column])
    elif how == "rename":
        frame = frame.rename(columns={column: column + "_x"})
    elif how == "empty":
        frame = frame.iloc[0:0]
    elif how == "negative":
        numeric = [c for c in frame.columns if pd.api.types.is_numeric_dtype(frame[c])]
        if numeric:
            frame[numeric[0]] = -frame[numeric[0]].abs() - 1
    return frame


def damage_bytes(data: st.DataObject, raw: bytes) -> bytes | None:
    """Truncated, a byte flipped, junk appended, replaced by junk, or deleted (None)."""
    how = data.draw(st.sampled_from(["truncate", "flip", "append", "junk", "delete"]), label="bytes")
    if how == "delete":
        return None
    if how == "truncate":
        return raw[: data.draw(st.integers(0, max(0, len(raw) - 1)), label="at")]
    if how == "flip" and raw:
        at = data.draw(st.integers(0, len(raw) - 1), label="at")
        return raw[:at] + bytes([raw[at] ^ data.draw(st.integers(1, 255), label="mask")]) + raw[at + 1 :]
    junk = data.draw(st.binary(max_size=64), label="junk")
    return raw + junk if how == "append" else junk


def damage_file(data: st.DataObject, path: Path) -> None:
    """Damage ``path`` the way its kind invites: structurally (JSON, a table) or byte by byte."""
    structural = data.draw(st.booleans(), label="structural")
    if structural and path.suffix == ".json":
        path.write_text(damage_json(data, path.read_text()))
    elif structural and path.suffix == ".csv":
        damage_table(data, pd.read_csv(path)).to_csv(path, index=False)
    elif structural and path.suffix == ".parquet":
        frame = damage_table(data, pd.read_parquet(path))
        try:
            frame.to_parquet(path, index=False)
        except Exception:  # a mixed column pyarrow cannot store: write it as text
            frame.astype(str).to_parquet(path, index=False)
    else:
        damaged = damage_bytes(data, path.read_bytes())
        if damaged is None:
            path.unlink()
        else:
            path.write_bytes(damaged)


# ---- the property -------------------------------------------------------------------------------


def fingerprint(*roots: Path) -> dict[str, bytes]:
    """Every file under ``roots`` (run-folder locks aside) and its content."""
    return {
        str(p): p.read_bytes()
        for root in roots
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != LOCK_FILE and ".locks" not in p.parts
    }


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """``ghostbench ARGV`` in this process: (exit code, stdout, stderr); an exception fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def check(argv: list[str], codes: tuple[int, ...] = (0, 2)) -> tuple[int, str]:
    code, out, err = run_cli(argv)
    assert code in codes, f"exit {code}: {err[-2000:]}"
    assert "Traceback" not in err + out, err[-3000:]
    errors = [line for line in err.splitlines() if line.startswith("ERROR:")]
    # A run that ended with failed cells (exit 2) has its summary; export --all, one line per model.
    summarised = "results: " in out + err or " exported to " in out
    if code == 2 and not summarised:
        assert len(errors) == 1 and err.splitlines()[-1] == errors[0], err[-2000:]
    event(f"exit {code}, {'refused' if errors and not summarised else 'ran'}")  # --hypothesis-show-statistics
    return code, err


# ---- fixtures: valid inputs that each example damages a copy of --------------------------------


CELLS = (SynthCell("ghostnet_050", median_ms=2.0, n=60), SynthCell("ghostnet_100", median_ms=6.0, n=60))
RUN_FILES = (RUN_JSON, LATENCY_CSV, LATENCY_PARQUET, SAMPLES_PARQUET, ACCURACY_CSV)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A baseline (with noise.json and accuracy.csv) and a new run, written by the real store."""
    root = tmp_path_factory.mktemp("pristine")
    base = write_run(root / "base", CELLS, seed=1)
    new = write_run(root / "new", CELLS, seed=2)
    for run in (base, new):
        accuracy = pd.DataFrame(
            [
                {
                    "model": "ghostnet_050",
                    "format": "onnx",
                    "precision": "fp32",
                    "top1": 66.2,
                    "top5": 86.6,
                    "n": 50000,
                    "data": "imagenet",
                }
            ]
        )
        accuracy.to_csv(run / ACCURACY_CSV, index=False)
    noise = RunNoise(0.02, 5, 2, ("Test CPU",), ("a", "b", "c", "d", "e"), {c.cell.key: 0.02 for c in CELLS})
    (base / NOISE_FILE).write_text(json.dumps(noise.to_dict()))
    code, _, err = run_cli(["compare", str(base), str(new)])
    assert code in (0, 1), err  # the pristine pair compares
    return {"base": base, "new": new}


@contextlib.contextmanager
def copies(pristine: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    work = tmp_path_factory.mktemp("example")
    try:
        yield {name: Path(shutil.copytree(path, work / name)) for name, path in pristine.items()}
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- targets ------------------------------------------------------------------------------------


@fuzz(60)
@given(data=st.data())
def test_fuzz_report(
    pristine: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    with copies(pristine, tmp_path_factory) as runs:
        victim = runs["new"] / data.draw(st.sampled_from(RUN_FILES), label="file")
        damage_file(data, victim)
        before = fingerprint(runs["new"])
        check(["report", str(runs["new"]), "-o", str(runs["new"].parent / "r.html")])
        assert fingerprint(runs["new"]) == before


@fuzz(100)
@given(data=st.data())
def test_fuzz_compare(
    pristine: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    with copies(pristine, tmp_path_factory) as runs:
        side = data.draw(st.sampled_from(["base", "new"]), label="side")
        names = (*RUN_FILES, NOISE_FILE) if side == "base" else RUN_FILES
        damage_file(data, runs[side] / data.draw(st.sampled_from(names), label="file"))
        before = fingerprint(*runs.values())
        out = runs["new"].parent / "cmp.json"
        check(["compare", str(runs["base"]), str(runs["new"]), "--json", str(out)], (0, 1, 2))
        assert fingerprint(*runs.values()) == before


@pytest.fixture
def no_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows end at once as failures, exports fail at once (module docstring: what is fuzzed)."""
    from ghostbench import exporters
    from ghostbench.exporters import ExportError
    from ghostbench.worker import forkserver, process

    def spawn(payload: dict, *, timeout_s: float, **_: object) -> WindowOutcome:
        if payload["cell"]["model"] == "null":  # the harness-overhead probe
            return WindowOutcome(status="ok", result={"window": {"samples_ns": [100, 100, 100]}})
        return WindowOutcome(status="error", error="fuzz: windows are not run")

    def no_export(*args: object, **kwargs: object) -> None:
        raise ExportError("fuzz: exports are not run")

    monkeypatch.setattr(process, "spawn", spawn)
    monkeypatch.setattr(forkserver, "supported", lambda: False)  # every window through the spawn above
    monkeypatch.setattr(exporters, "export", no_export)
    monkeypatch.setattr(exporters, "export_status", no_export)


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bench run of two null cells, the first measured, then interrupted: what --resume reads."""
    from ghostbench.bench.measure import MeasureOptions
    from ghostbench.bench.store import RunStore
    from ghostbench.core.cell import Cell
    from ghostbench.core.window import HarnessConfig

    root = tmp_path_factory.mktemp("resume")
    source = write_run(root / "src", CELLS[:1], seed=3)
    store = RunStore(root / "results" / "run")
    store.path.mkdir(parents=True)
    for name in (LATENCY_CSV, LATENCY_PARQUET, SAMPLES_PARQUET):
        shutil.copy(source / name, store.path / name)
    options = MeasureOptions(rounds=1, harness=HarnessConfig(time_cap_s=0.1, min_time_s=0.05), timeout_s=30)
    plan = [Cell.from_dict(json.loads(json.dumps(c.cell.to_dict()))) for c in CELLS]
    store.begin(
        command=["ghostbench", "bench"],
        profile="cpu",
        options={"device": "cpu", "cache_dir": None, "allow_parity_failure": False, **options.to_dict()},
        plan=plan,
    )
    store.update_run(status="interrupted")
    return store.path


@fuzz(60)
@given(data=st.data())
def test_fuzz_bench_resume(
    interrupted: Path, no_windows: None, tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    work = tmp_path_factory.mktemp("resume-example")
    run = Path(shutil.copytree(interrupted, work / "results" / "run"))
    damage_file(data, run / data.draw(st.sampled_from(RUN_FILES[:4]), label="file"))
    before = fingerprint(run)
    code, err = check(["bench", "--resume", "run", "--out-dir", str(run.parent), "--no-report"])
    if code == 2 and err.strip().count("\n") == 0:  # refused before starting: nothing written
        assert fingerprint(run) == before
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A cache holding the ONNX export of a small registered model, and the model's name."""
    from test_exporters import TINY

    from ghostbench.exporters import export
    from ghostbench.models import registry

    spec = registry.register(TINY)
    root = tmp_path_factory.mktemp("cache")
    export(spec.name, "onnx", cache_dir=root)
    yield root, spec.name
    registry._REGISTRY.pop(spec.name)


@fuzz(15)
@given(data=st.data())
def test_fuzz_export_cache(
    tiny_cache: tuple[Path, str], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    root, name = tiny_cache
    cache = Path(shutil.copytree(root, tmp_path_factory.mktemp("cache-example") / "c"))
    (entry,) = (cache / name).iterdir()
    victim = data.draw(st.sampled_from(sorted(p.name for p in entry.iterdir())), label="file")
    damage_file(data, entry / victim)
    check(["export", name, "--format", "onnx", "--cache-dir", str(cache)])
    shutil.rmtree(cache.parent, ignore_errors=True)


# ---- command lines ------------------------------------------------------------------------------

ODD_ARGS = st.sampled_from(
    [
        "",
        " ",
        "0",
        "-1",
        "1",
        "2",
        "nan",
        "inf",
        "-inf",
        "1e309",
        "100000",
        "0.5",
        "ghostnet_050",
        "*",
        "ghostnet_*",
        "../x",
        "-oX",
        "\x1b[2J",
        "a,b",
        ",",
        "null",
        "torch",
        "onnxruntime",
        "cpu",
        "cuda",
        "pi",
        "android",
        "fp8",
        "fp32",
        "int8",
        "onnx",
        "tflite",
        "key=value",
        "graph_opt=basic",
        "x=1",
        "pi@host:99999",
        "[::1]:0",
    ]
) | st.text(max_size=6)


def _flags() -> dict[str, list[tuple[str, bool]]]:
    """command -> its options (name, takes a value), read from the real parser; a command with
    actions of its own (``history add``, ``history show``) is one entry per action."""
    import argparse

    def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        found = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        return dict(found[0].choices) if found else {}

    def options(parser: argparse.ArgumentParser) -> list[tuple[str, bool]]:
        return [
            (action.option_strings[-1], action.nargs != 0)
            for action in parser._actions
            if action.option_strings and action.dest != "help"
        ]

    flags = {}
    for name, command in subcommands(cli.build_parser()).items():
        actions = subcommands(command)
        for key, parser in (
            {f"{name} {a}": p for a, p in actions.items()}.items() if actions else [(name, command)]
        ):
            flags[key] = options(parser)
    return flags


FLAGS = _flags()


@fuzz(150)
@given(data=st.data())
def test_fuzz_command_lines(
    pristine: dict[str, Path],
    no_windows: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.worker import remote

    def no_board(*args: object, **kwargs: object) -> None:
        raise GhostbenchError("fuzz: no board is reached")

    monkeypatch.setattr(remote, "remote_spawn", no_board)
    work = tmp_path_factory.mktemp("argv")
    monkeypatch.chdir(work)  # default results/ and reports/ land here
    command = data.draw(st.sampled_from(sorted(FLAGS)), label="command")
    runs = [str(pristine["base"]), str(pristine["new"])]
    argv = command.split()
    positionals = {"report": 1, "compare": 2, "export": 1, "history add": 1}.get(command, 0)
    argv += data.draw(
        st.lists(
            st.sampled_from([*runs, "ghostnet_050", "nope", ""]), min_size=positionals, max_size=positionals
        )
    )
    for flag, takes in data.draw(
        st.lists(st.sampled_from(FLAGS[command]), max_size=4, unique=True), label="flags"
    ):
        argv.append(flag)
        if takes:
            argv.append(
                str(work / "out")
                if flag in ("--out", "--out-dir", "-o", "--output", "--json", "--markdown")
                else data.draw(ODD_ARGS)
            )
    before = fingerprint(pristine["base"], pristine["new"])
    check(argv, (0, 1, 2))
    assert fingerprint(pristine["base"], pristine["new"]) == before
    monkeypatch.chdir(work.parent)
    shutil.rmtree(work, ignore_errors=True)


@pytest.fixture(scope="module")
def pristine_history(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A history root of six runs and a seventh run not yet in it, written by the real code."""
    from ghostbench.bench import history

    root = tmp_path_factory.mktemp("history")
    runs = [write_run(root / f"night{i}", CELLS, seed=10 + i) for i in range(7)]
    history.add(root / "h", runs[:6])
    code, _, err = run_cli(["history", "show", "--root", str(root / "h"), "-o", str(root / "d.html")])
    assert code == 0, err
    return {"h": root / "h", "new": runs[6]}


@fuzz(40)
@given(data=st.data())
def test_fuzz_history(
    pristine_history: dict[str, Path], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    """A damaged history or run: ``history add`` and ``history show`` refuse in one line or work,
    and a history that cannot be read is never written over."""
    from ghostbench.bench.history import HISTORY_FILE

    with copies(pristine_history, tmp_path_factory) as work:
        stored = work["h"] / "cpu" / HISTORY_FILE
        names = [f for f in RUN_FILES if f != ACCURACY_CSV]  # a history reads no accuracy
        target = data.draw(st.sampled_from(["history", *names]), label="file")
        damage_file(data, stored if target == "history" else work["new"] / target)
        before = fingerprint(work["new"])
        history_before = stored.read_bytes() if stored.exists() else None
        code, _ = check(["history", "add", str(work["new"]), "--root", str(work["h"])])
        assert fingerprint(work["new"]) == before
        if code == 2 and history_before is not None:
            assert stored.read_bytes() == history_before  # refused: nothing stored was touched
        out = work["h"].parent / "d.html"
        check(
            [
                "history",
                "show",
                "--root",
                str(work["h"]),
                "--device",
                "cpu",
                "-o",
                str(out),
                "--run-noise",
                "0.05",
            ]
        )
