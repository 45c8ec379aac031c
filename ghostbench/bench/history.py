"""The history store: every finished run's cell summaries and environment, one Parquet file per
device (``<root>/<device>/history.parquet``, one row per run and cell), for the dashboard of
latency over time (``reports.dashboard``).

Appending is idempotent (a run already stored is skipped, so ``make nightly`` may add a run twice)
and atomic (the whole file is rewritten to a temporary sibling and moved into place, under a lock),
and it never writes over a file it cannot read: a corrupt or unknown-version history is an error
that names the file and leaves it as it is.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ghostbench.bench.store import load_run
from ghostbench.core import atomic, locks
from ghostbench.core.errors import GhostbenchError

HISTORY_VERSION = 1
HISTORY_FILE = "history.parquet"
LOCK_FILE = ".lock"
# The row columns a history keeps of each cell (``latency.csv`` names), beside the run's own.
CELL_COLUMNS: tuple[str, ...] = (
    "cell", "model", "family", "backend", "runtime", "runtime_version", "device", "device_name",
    "precision", "threads", "status", "median_ms", "ci_low_ms", "ci_high_ms", "p90_ms", "n",
    "windows", "window_spread", "flags", "error",
)  # fmt: skip
COLUMNS: tuple[str, ...] = ("history_version", "run_id", "created", *CELL_COLUMNS, "env")


@dataclass
class Added:
    """What ``add`` did, per device: runs stored now, and runs that were there already."""

    added: dict[str, list[str]] = field(default_factory=dict)
    present: dict[str, list[str]] = field(default_factory=dict)


def history_path(root: str | os.PathLike, device: str) -> Path:
    return Path(root) / device / HISTORY_FILE


def run_environment(run: dict) -> dict[str, str]:
    """The environment facts of a run that explain a step in latency, flat and comparable: library
    versions (ghostbench's included), Python, CPU, GPU and driver, the command's options."""
    env = run.get("env") if isinstance(run.get("env"), dict) else {}
    out: dict[str, str] = {}
    versions = env.get("versions")
    if isinstance(versions, dict):
        out.update({f"version.{k}": str(v) for k, v in versions.items() if v != "not installed"})
    cpu = env.get("cpu")
    if isinstance(cpu, dict):
        for key in ("model", "logical_cores", "governor"):
            if key in cpu and not isinstance(cpu[key], dict):
                out[f"cpu.{key}"] = str(cpu[key])
    gpu = env.get("gpu")
    if isinstance(gpu, dict) and "driver" in gpu:
        out["gpu.driver"] = str(gpu["driver"])
        names = [d.get("name") for d in gpu.get("devices", []) if isinstance(d, dict)]
        out["gpu.names"] = ", ".join(str(n) for n in names)
    host = env.get("host")
    if isinstance(host, dict):
        for key in ("hostname", "python"):
            if key in host:
                out[f"host.{key}"] = str(host[key])
    options = run.get("options")
    if isinstance(options, dict):
        for key in ("rounds", "time_cap_s", "min_time_s", "fork_server", "cuda_session", "interleave"):
            if key in options:
                out[f"options.{key}"] = str(options[key])
    return out


def rows_of_run(run_dir: str | os.PathLike) -> pd.DataFrame:
    """One history row per cell of a finished run folder."""
    run, latency, _ = load_run(run_dir)
    run_id = str(run.get("run_id", Path(run_dir).name))
    if run.get("status") != "complete":  # interrupted, crashed or still running: not a night
        raise GhostbenchError(
            f"{run_dir}: run {run_id} is {run.get('status', 'unfinished')!r}, not finished; "
            "finish it (bench --resume) before adding it to the history"
        )
    created = run.get("created")
    if not isinstance(created, str):
        raise GhostbenchError(f"{run_dir}: run.json has no 'created' time")
    rows = latency.reindex(columns=list(CELL_COLUMNS)).copy()
    rows.insert(0, "created", created)
    rows.insert(0, "run_id", run_id)
    rows.insert(0, "history_version", HISTORY_VERSION)
    rows["env"] = json.dumps(run_environment(run), sort_keys=True)
    return rows[list(COLUMNS)]


def read(root: str | os.PathLike, device: str) -> pd.DataFrame:
    """A device's history, oldest run first; a clear error if it is missing, unreadable or of a
    version this ghostbench does not know."""
    path = history_path(root, device)
    if not path.is_file():
        raise GhostbenchError(
            f"no history for device {device!r} in {root} (no {path}); "
            "add runs with: ghostbench history add RUN..."
        )
    return _read(path)


def _read(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # pyarrow raises its own types for a damaged file
        raise GhostbenchError(
            f"{path} is not a readable history file ({exc}); it was left as it is"
        ) from None
    missing = sorted(set(COLUMNS) - set(frame.columns))
    if missing:
        raise GhostbenchError(f"{path} is not a ghostbench history: no column {', '.join(missing)}")
    versions = set(frame["history_version"].dropna().astype(int))
    if versions - {HISTORY_VERSION}:
        raise GhostbenchError(
            f"{path} has history_version {sorted(versions)}, this ghostbench reads {HISTORY_VERSION}"
        )
    return frame.sort_values(["created", "run_id", "cell"], kind="stable").reset_index(drop=True)


def devices(root: str | os.PathLike) -> list[str]:
    """The devices with a history under ``root``."""
    base = Path(root)
    return sorted(p.parent.name for p in base.glob(f"*/{HISTORY_FILE}")) if base.is_dir() else []


def add(
    root: str | os.PathLike, run_dirs: Sequence[str | os.PathLike], *, device: str | None = None
) -> Added:
    """Store the cells of ``run_dirs`` under ``root``, each in its own device's history (or, with
    ``device``, only there: a run measured elsewhere is an error). All runs are read and checked
    before anything is written."""
    new = [rows_of_run(d) for d in run_dirs]
    if device is not None:
        for run_dir, rows in zip(run_dirs, new, strict=True):
            other = sorted(set(rows["device"].dropna()) - {device})
            if other:
                raise GhostbenchError(
                    f"{run_dir}: measured on {', '.join(other)}, not {device}; "
                    "leave out --device to store each run in its own device's history"
                )
    result = Added()
    frame = pd.concat(new, ignore_index=True) if new else pd.DataFrame(columns=list(COLUMNS))
    for dev, rows in frame.groupby("device", sort=True):
        result.added[str(dev)], result.present[str(dev)] = _append(history_path(root, str(dev)), rows)
    return result


def _append(path: Path, rows: pd.DataFrame) -> tuple[list[str], list[str]]:
    with locks.hold(path.parent / LOCK_FILE, wait=True, what=f"the history {path}"):
        old = _read(path) if path.is_file() else None
        stored = set(old["run_id"]) if old is not None else set()
        runs = list(dict.fromkeys(rows["run_id"]))
        added = [r for r in runs if r not in stored]
        present = [r for r in runs if r in stored]
        if added:
            fresh = rows[rows["run_id"].isin(added)].drop_duplicates(["run_id", "cell"])  # a run given twice
            merged = fresh if old is None else pd.concat([old, fresh], ignore_index=True)
            merged = merged.sort_values(["created", "run_id", "cell"], kind="stable")
            atomic.write(path, lambda tmp: merged.to_parquet(tmp, index=False))
    return added, present


def environment(frame: pd.DataFrame) -> dict[str, dict[str, str]]:
    """run_id -> its environment facts, from a history frame."""
    return {
        str(r): json.loads(e)
        for r, e in frame.drop_duplicates("run_id")[["run_id", "env"]].itertuples(index=False)
    }


def env_changes(before: dict[str, str], after: dict[str, str]) -> dict[str, list[str | None]]:
    """The facts that differ between two runs: key -> [before, after] (None where absent)."""
    keys: Iterable[str] = sorted(set(before) | set(after))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}
