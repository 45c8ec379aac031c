"""The results folder: the schema document and the code agree, writes are atomic, a killed run keeps
its finished cells, and readers refuse a schema_version they do not know."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import pandas as pd
import pytest

from ghostbench.bench import store
from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.bench.store import RunStore, load_run, samples_frame
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import HarnessConfig

SCHEMA_DOC = Path(__file__).resolve().parents[1] / "docs" / "results-schema.md"


def _doc_columns(section: str) -> list[str]:
    """Column names, in order, from the table under the ``## `section` ...`` heading of the doc."""
    text = SCHEMA_DOC.read_text()
    start = text.index(f"## `{section}`")
    body = text[start : text.find("\n## ", start + 1)]
    names: list[str] = []
    for line in body.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| `") and len(cells) >= 2:
            names += re.findall(r"`([a-z0-9_]+)`", cells[0])
    return names


def test_latency_columns_are_the_documented_ones() -> None:
    assert list(store.LATENCY_COLUMNS) == _doc_columns("latency.csv")


def test_sample_columns_are_the_documented_ones() -> None:
    assert list(store.SAMPLE_COLUMNS) == _doc_columns("samples.parquet")


def _row(cell: str, status: str = "ok", median_ms: float = 4.2) -> dict:
    ok = status == "ok"
    row = {name: None for name in store.LATENCY_COLUMNS}
    row.update(
        cell=cell,
        model="ghostnet_100",
        family="c-ghost",
        backend="onnxruntime",
        runtime="onnxruntime",
        runtime_version="1.0",
        device="cpu",
        device_name="cpu",
        precision="fp32",
        threads=2,
        status=status,
        median_ms=median_ms if ok else None,
        n=300 if ok else None,
        flags="high_cv" if ok else "",
        error="" if ok else "worker died from SIGSEGV",
        params=5_182_508,
        started_at="2026-11-23T12:00:00Z",
        duration_s=3.5,
    )
    return row


def _store(tmp_path: Path) -> RunStore:
    run = RunStore(tmp_path / "20261123T120000Z-host")
    run.write_run_json({"status": "running"})
    return run


def test_rows_and_samples_round_trip(tmp_path: Path) -> None:
    run = _store(tmp_path)
    run.append(_row("a"), samples_frame(run.run_id, "a", [[1, 2, 3], [4, 5]]), {"windows": [{"window": 0}]})
    run.append(_row("b", status="error"))
    meta, latency, samples = load_run(run.path)

    assert meta["schema_version"] == store.SCHEMA_VERSION and meta["run_id"] == run.run_id
    assert meta["cells"]["a"] == {"windows": [{"window": 0}]}
    assert latency["cell"].tolist() == ["a", "b"]
    assert (latency["run_id"] == run.run_id).all() and (latency["schema_version"] == 1).all()
    ok, err = latency.iloc[0], latency.iloc[1]
    assert ok["median_ms"] == 4.2 and ok["n"] == 300 and ok["params"] == 5_182_508
    assert err["status"] == "error" and math.isnan(err["median_ms"]) and pd.isna(err["n"])
    assert err["error"] == "worker died from SIGSEGV"
    assert samples.to_dict("list") == {
        "run_id": [run.run_id] * 5,
        "cell": ["a"] * 5,
        "window": [0, 0, 0, 1, 1],
        "iteration": [0, 1, 2, 0, 1],
        "latency_ns": [1, 2, 3, 4, 5],
    }
    csv = pd.read_csv(run.path / store.LATENCY_CSV)
    assert csv.columns.tolist() == list(store.LATENCY_COLUMNS)
    assert csv["cell"].tolist() == ["a", "b"] and csv.loc[0, "median_ms"] == 4.2
    assert not [p for p in run.path.iterdir() if p.name.endswith(".tmp")]


def test_append_replaces_a_cell_and_done_cells_lists_ok_ones(tmp_path: Path) -> None:
    run = _store(tmp_path)
    run.append(_row("a", status="error"))
    run.append(_row("b"), samples_frame(run.run_id, "b", [[7, 8]]))
    assert run.done_cells() == {"b"}
    run.append(_row("a", median_ms=5.0), samples_frame(run.run_id, "a", [[9]]))
    run.append(_row("b", median_ms=6.0), samples_frame(run.run_id, "b", [[10, 11, 12]]))
    _, latency, samples = load_run(run.path)
    assert latency.set_index("cell")["median_ms"].to_dict() == {"a": 5.0, "b": 6.0}
    assert samples.groupby("cell")["latency_ns"].apply(list).to_dict() == {"a": [9], "b": [10, 11, 12]}
    assert RunStore(run.path).done_cells() == {"a", "b"}  # a fresh store reads them back


def test_rows_must_follow_the_schema(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unexpected"):
        _store(tmp_path).append({**_row("a"), "latency_ms": 1.0})


def test_unknown_schema_versions_are_refused(tmp_path: Path) -> None:
    run = _store(tmp_path)
    run.append(_row("a"))
    data = json.loads((run.path / store.RUN_JSON).read_text())
    (run.path / store.RUN_JSON).write_text(json.dumps({**data, "schema_version": 99}))
    with pytest.raises(GhostbenchError, match="schema_version 99 is not one this ghostbench reads"):
        load_run(run.path)
    (run.path / store.RUN_JSON).write_text(json.dumps(data))
    latency = pd.read_parquet(run.path / store.LATENCY_PARQUET)
    latency["schema_version"] = 2
    latency.to_parquet(run.path / store.LATENCY_PARQUET)
    with pytest.raises(GhostbenchError, match="schema_version 2"):
        load_run(run.path)


def test_a_folder_that_is_not_a_run_is_refused(tmp_path: Path) -> None:
    with pytest.raises(GhostbenchError, match="is not a ghostbench run"):
        load_run(tmp_path)


def test_run_ids_sort_by_time_and_name_the_host() -> None:
    assert store.new_run_id("my host", "20261123T121500Z") == "20261123T121500Z-my-host"
    assert re.fullmatch(r"\d{8}T\d{6}Z-.+", store.new_run_id())


def test_a_killed_run_keeps_its_finished_cells(tmp_path: Path) -> None:
    quick = HarnessConfig(
        warmup_min_s=0.01, warmup_max_s=0.1, min_time_s=0.01, time_cap_s=0.1, max_samples=5000
    )
    cells = [Cell("ghostnet_050", "null", threads=1), Cell("ghostnet_050", "null", threads=2)]
    run = _store(tmp_path)

    def killed(row: dict) -> None:
        raise KeyboardInterrupt  # Ctrl-C right after the first cell is stored

    with pytest.raises(KeyboardInterrupt):
        measure(
            cells,
            run_id=run.run_id,
            options=MeasureOptions(rounds=1, harness=quick),
            store=run,
            on_cell_done=killed,
        )
    _, latency, samples = load_run(run.path)
    assert latency["cell"].tolist() == [cells[0].key]
    assert set(samples["cell"]) == {cells[0].key}
    assert RunStore(run.path).done_cells() == {cells[0].key}


@pytest.mark.parametrize("content", ["[1, 2, 3]", "null", '"run"', "{not json"])
def test_a_run_json_that_is_not_an_object_is_one_error(tmp_path: Path, content: str) -> None:
    """Issue 17, 7: valid JSON of the wrong shape (or no JSON) is refused with where and why."""
    (tmp_path / "run.json").write_text(content)
    with pytest.raises(GhostbenchError, match=r"run\.json"):
        load_run(tmp_path)
    assert (tmp_path / "run.json").read_text() == content


@pytest.mark.parametrize(
    "bad",
    [{"time_cap_s": math.nan}, {"time_cap_s": math.inf}, {"min_time_s": math.nan}, {"target": math.nan}],
)
def test_non_finite_harness_settings_are_refused(bad: dict) -> None:
    """Issue 17, 3: nan and inf passed every comparison and reached run.json as a JSON error."""
    with pytest.raises(ValueError, match="finite"):
        HarnessConfig(**bad)


def test_a_non_finite_timeout_is_refused() -> None:
    with pytest.raises(GhostbenchError, match="timeout"):
        MeasureOptions(timeout_s=math.nan)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ([1], "a cell is a JSON object"),
        ({"model": "m"}, "cell fields ['backend'] are missing"),
        ({"model": "m", "backend": "torch", "colour": "red"}, "unknown cell fields ['colour']"),
        ({"model": "m", "backend": "tensorflow"}, "cell backend 'tensorflow' is not one of"),
        ({"model": "m", "backend": "torch", "device": ["cpu"]}, "cell device ['cpu'] is not one of"),
        ({"model": "", "backend": "torch"}, "cell model '' is not a name"),
        ({"model": "m", "backend": "torch", "threads": True}, "cell threads True is not an integer"),
        ({"model": "m", "backend": "torch", "threads": 0}, "cell threads 0 is not an integer >= 1"),
        ({"model": "m", "backend": "torch", "options": [1]}, "cell options [1] are not an object"),
    ],
)
def test_cells_read_from_a_file_are_checked_field_by_field(data: object, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Cell.from_dict(data)  # type: ignore[arg-type]


def test_a_cell_round_trips_through_its_dict() -> None:
    cell = Cell("ghostnet_050", "onnxruntime", "cpu", "int8", 4, {"graph_opt": "basic"})
    assert Cell.from_dict(cell.to_dict()) == cell
