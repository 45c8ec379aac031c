"""Read results directories into the tables the report draws from, and name the groups it never pools.

A *panel* is one (run, device, backend, runtime and version, threads, options) combination; a
*group* is a panel at one precision. Verdicts, correlations and ranks are computed per group, so rows
of different runtimes, versions, machines or runs are never pooled; the accuracy plot shows a panel
so a measured int8 point sits next to its fp32 point. Measured accuracy from a run's ``accuracy.csv``
replaces the published figure for the (model, format, precision) it was measured on.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ghostbench.bench.store import LATENCY_COLUMNS, load_run, read_accuracy
from ghostbench.core.cell import ARTIFACT_FORMATS
from ghostbench.core.errors import GhostbenchError

# Precisions whose accuracy is taken to be the published (fp32) figure; others need a measurement.
FULL_PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class Run:
    path: Path
    info: dict  # run.json as written
    accuracy: pd.DataFrame | None  # accuracy.csv when present


@dataclass(frozen=True)
class ReportData:
    """Everything the report shows; ``cells`` carries ``panel`` and ``group`` labels per row."""

    runs: tuple[Run, ...]
    cells: pd.DataFrame
    samples: pd.DataFrame


def _normalise(latency: pd.DataFrame, run_id: str) -> pd.DataFrame:
    """``load_run``'s typed table as the plots want it: text without NA, numbers as float."""
    df = latency.copy()
    for col, kind in LATENCY_COLUMNS.items():
        if kind == "string":
            df[col] = df[col].fillna("").astype(str)
        elif col != "threads":
            df[col] = pd.to_numeric(df[col], errors="coerce").astype(float)
    df["run_id"] = df["run_id"].where(df["run_id"] != "", run_id)
    # Cell.key = model/backend/device/precision/tTHREADS[,opt=val...]: options distinguish configurations.
    df["options"] = df["cell"].map(lambda key: key.split("/", 4)[-1].partition(",")[2])
    return df


def _apply_accuracy(df: pd.DataFrame, acc: pd.DataFrame | None, run_id: str) -> pd.DataFrame:
    """Measured top-1 replaces the published one for the same model, format and precision."""
    if acc is None or acc.empty:
        return df
    df = df.copy()
    fmt = df["backend"].map(lambda b: ARTIFACT_FORMATS.get(b, "torch"))  # the torch backends: "torch"
    for _, a in acc.iterrows():
        top1 = pd.to_numeric(a["top1"], errors="coerce")
        if pd.isna(top1):
            continue
        hit = (df["model"] == a["model"]) & (df["precision"] == a["precision"])
        hit &= fmt == a["format"]
        n = pd.to_numeric(a["n"], errors="coerce")
        images = f"{int(n)} images" if pd.notna(n) else "n unknown"
        df.loc[hit, "top1"] = float(top1)
        df.loc[hit, "top1_kind"] = "measured"
        df.loc[hit, "top1_source"] = (
            f"measured: {run_id} accuracy.csv ({a['format']}, {a['precision']}, {images}, data {a['data']})"
        )
    return df


def panel_label(row: pd.Series, multi_run: bool) -> str:
    thr = f"{row['threads']} thread" + ("s" if row["threads"] != 1 else "")
    runtime = f"{row['runtime']} {row['runtime_version']}".strip()
    parts = [row["device"], f"{row['backend']} ({runtime})" if runtime else row["backend"], thr]
    if row["options"]:
        parts.append(row["options"])
    if row["device_name"]:
        parts.append(row["device_name"])
    if multi_run:
        parts.append(f"run {row['run_id']}")
    return " · ".join(str(p) for p in parts)


def load(run_dirs: Sequence[Path | str]) -> ReportData:
    """Read every run; refuse duplicates and empty input with a message the user can act on."""
    if not run_dirs:
        raise GhostbenchError("no results directory given")
    runs, frames, sample_frames = [], [], []
    seen: dict[str, Path] = {}
    for raw in run_dirs:
        path = Path(raw)
        info, latency, samples = load_run(path)
        if latency.empty:
            raise GhostbenchError(f"{path}: no measured cell (no latency rows), nothing to report")
        run_id = str(info.get("run_id") or path.name)
        if run_id in seen:
            raise GhostbenchError(f"run {run_id} given twice ({seen[run_id]} and {path})")
        seen[run_id] = path
        acc = read_accuracy(path)
        runs.append(Run(path=path, info=info, accuracy=acc))
        frames.append(_apply_accuracy(_normalise(latency, run_id), acc, run_id))
        sample_frames.append(samples)
    cells = pd.concat(frames, ignore_index=True)
    cells["panel"] = cells.apply(panel_label, axis=1, multi_run=len(runs) > 1)
    cells["group"] = cells["panel"] + " · " + cells["precision"]
    cells["accuracy_valid"] = cells["top1"].notna() & (
        cells["precision"].isin(FULL_PRECISIONS) | (cells["top1_kind"] == "measured")
    )
    samples = pd.concat(sample_frames, ignore_index=True)
    return ReportData(runs=tuple(runs), cells=cells, samples=samples)


def ordered(values: pd.Series) -> list[str]:
    """Labels in first-seen order (runs in the order given, then as stored)."""
    return list(dict.fromkeys(values.tolist()))
