"""The results folder of a run (``docs/results-schema.md``): ``run.json``, ``latency.csv`` +
``latency.parquet`` (one row per cell) and ``samples.parquet`` (raw iterations).

Every write goes to a temporary file in the same folder and is then ``os.replace``-d, so a run
killed at any moment leaves the previous complete state of each file. ``append`` rewrites the
tables after each finished cell: a killed run keeps every finished cell, and a re-run skips them
(``done_cells``). Readers refuse a ``schema_version`` they do not know.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ghostbench.core import atomic, locks
from ghostbench.core.errors import GhostbenchError

if TYPE_CHECKING:
    from ghostbench.core.cell import Cell

SCHEMA_VERSION = 1
RUN_JSON = "run.json"
LATENCY_CSV = "latency.csv"
LATENCY_PARQUET = "latency.parquet"
SAMPLES_PARQUET = "samples.parquet"
LOCK_FILE = ".lock"  # held by the process writing the folder; holds its pid
ACCURACY_CSV = "accuracy.csv"
# accuracy.csv (``ghostbench evaluate``, docs/accuracy.md): the report reads these columns; further
# ones record how the figure was made. One row per (model, format, precision).
ACCURACY_COLUMNS: tuple[str, ...] = ("model", "format", "precision", "top1", "top5", "n", "data")
ACCURACY_KEY: tuple[str, ...] = ("model", "format", "precision")

# Columns only a measured cell has; an error row leaves them empty.
MEASURED_COLUMNS: tuple[str, ...] = (
    "median_ms",
    "p90_ms",
    "p99_ms",
    "mean_ms",
    "std_ms",
    "min_ms",
    "max_ms",
    "cv",
    "ci_low_ms",
    "ci_high_ms",
    "n",
    "windows",
    "window_spread",
    "first_ms",
    "load_ms",
)
# Column -> pandas dtype, in schema order. Ints are nullable: an error row has no numbers.
LATENCY_COLUMNS: dict[str, str] = {
    "schema_version": "int64",
    "run_id": "string",
    "cell": "string",
    "model": "string",
    "family": "string",
    "backend": "string",
    "runtime": "string",
    "runtime_version": "string",
    "device": "string",
    "device_name": "string",
    "precision": "string",
    "threads": "int64",
    "status": "string",
    **dict.fromkeys(["median_ms", "p90_ms", "p99_ms", "mean_ms", "std_ms", "min_ms", "max_ms"], "float64"),
    "cv": "float64",
    "ci_low_ms": "float64",
    "ci_high_ms": "float64",
    "n": "Int64",
    "windows": "Int64",
    "window_spread": "float64",
    "first_ms": "float64",
    "load_ms": "float64",
    "flags": "string",
    "error": "string",
    "params": "Int64",
    "macs": "Int64",
    "activations": "Int64",
    "top1": "float64",
    "top1_source": "string",
    "top1_kind": "string",
    "artifact_sha256": "string",
    "parity_cosine": "float64",
    "parity_max_abs": "float64",
    "started_at": "string",
    "duration_s": "float64",
}
SAMPLE_COLUMNS: dict[str, str] = {
    "run_id": "string",
    "cell": "string",
    "window": "int64",
    "iteration": "int64",
    "latency_ns": "int64",
}


def new_run_id(host: str | None = None, now: str | None = None) -> str:
    """A sortable UTC timestamp plus the host name, e.g. ``20261123T121500Z-myhost``."""
    import datetime as dt

    stamp = now or dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in (host or socket.gethostname()))
    return f"{stamp}-{name}"


def create_run_dir(root: str | os.PathLike, run_id: str | None = None) -> Path:
    """Make a new, empty run folder under ``root`` and return it. The folder is made exclusively (no
    ``exist_ok``): two runs started in the same second on one host get ``<id>``, ``<id>-2``, ...,
    never one folder that mixes their rows."""
    base = run_id or new_run_id()
    root = Path(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        for n in range(1, 1000):
            path = root / (base if n == 1 else f"{base}-{n}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        raise GhostbenchError(f"cannot make a run folder in {root}: {exc.strerror or exc}") from None
    raise GhostbenchError(f"cannot make a run folder in {root}: {base} and 998 suffixes exist")


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    missing = [c for c in columns if c not in frame.columns]
    extra = [c for c in frame.columns if c not in columns]
    if missing or extra:
        raise ValueError(f"columns do not follow the schema: missing {missing}, unexpected {extra}")
    return frame[list(columns)].astype(columns)


def latency_frame(rows: Sequence[dict]) -> pd.DataFrame:
    """Rows as a typed table in schema column order (an empty table keeps the columns). Each row
    must have exactly the schema's columns: a misspelt one would otherwise vanish silently."""
    for row in rows:
        if set(row) != set(LATENCY_COLUMNS):
            missing = sorted(set(LATENCY_COLUMNS) - set(row))
            extra = sorted(set(row) - set(LATENCY_COLUMNS))
            raise ValueError(f"row does not follow the schema: missing {missing}, unexpected {extra}")
    frame = pd.DataFrame(list(rows), columns=list(LATENCY_COLUMNS))
    return _typed(frame, LATENCY_COLUMNS)


def samples_frame(run_id: str, cell: str, windows: Sequence[Sequence[int]]) -> pd.DataFrame:
    """The raw samples of one cell, window by window, in the ``samples.parquet`` layout."""
    parts = [
        pd.DataFrame(
            {
                "run_id": run_id,
                "cell": cell,
                "window": w,
                "iteration": range(len(samples)),
                "latency_ns": list(samples),
            }
        )
        for w, samples in enumerate(windows)
    ]
    frame = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(SAMPLE_COLUMNS))
    return _typed(frame, SAMPLE_COLUMNS)


def _check_version(found: object, where: Path) -> None:
    if found != SCHEMA_VERSION:
        raise GhostbenchError(
            f"{where}: schema_version {found!r} is not one this ghostbench reads ({SCHEMA_VERSION})"
        )


class RunStore:
    """Writes one run folder. Keeps the tables in memory and rewrites them whole on each append."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        self._latency: pd.DataFrame | None = None
        self._samples: pd.DataFrame | None = None

    @property
    def run_id(self) -> str:
        return self.path.name

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Be the only writer of this folder for the ``with`` block; a second ghostbench writing the
        same folder (``run --out``, ``bench --resume``) fails at once with a one-line error."""
        what = f"the results folder {self.path}"
        with locks.hold(self.path / LOCK_FILE, wait=False, what=what):
            yield

    def exists(self) -> bool:
        """Whether a run was started here (its ``run.json`` exists)."""
        return (self.path / RUN_JSON).is_file()

    def read_run_json(self) -> dict:
        where = self.path / RUN_JSON
        try:
            run = json.loads(where.read_text())
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise GhostbenchError(f"{where}: cannot be read as JSON ({exc})") from None
        if not isinstance(run, dict):
            raise GhostbenchError(f"{where}: not a run record (a JSON object), got {type(run).__name__}")
        _check_version(run.get("schema_version"), self.path / RUN_JSON)
        return run

    def write_run_json(self, run: dict) -> None:
        """Write ``run.json`` (``schema_version`` and ``run_id`` are filled in)."""
        data = {"schema_version": SCHEMA_VERSION, "run_id": self.run_id, **run}
        _check_version(data["schema_version"], self.path / RUN_JSON)
        text = json.dumps(data, indent=2, sort_keys=False, default=str, allow_nan=False)
        atomic.write(self.path / RUN_JSON, lambda tmp: tmp.write_text(text + "\n"))

    def begin(
        self,
        *,
        command: list[str],
        options: dict,
        plan: Sequence[Cell],
        skipped: Sequence[dict] = (),
        profile: str | None = None,
        overhead_ns: int | None = None,
    ) -> None:
        """Start a run: ``run.json`` with status ``running``, the time, the command, the options the
        rows are measured with, the plan, the cells skipped and why, and the machine's snapshot."""
        from ghostbench.worker import env

        run: dict = {"status": "running", "created": env.now_iso(), "command": command}
        if profile is not None:
            run["profile"] = profile
        run |= {
            "options": options,
            "env": env.snapshot(),
            "plan": [c.to_dict() for c in plan],
            "skipped": list(skipped),
            "overhead_ns": overhead_ns,
        }
        self.write_run_json(run)

    def resume(self, **fields: object) -> dict:
        """Mark a started run ``running`` again, note when in ``resumed``, and set ``fields``."""
        from ghostbench.worker import env

        resumed = [*self.read_run_json().get("resumed", []), env.now_iso()]
        return self.update_run(**fields, status="running", resumed=resumed)

    def update_run(self, **fields: object) -> dict:
        """Read ``run.json``, set ``fields``, write it back; returns the new content."""
        run = self.read_run_json()
        run.update(fields)
        self.write_run_json(run)
        return run

    def _load(self) -> None:
        if self._latency is None:
            self._latency, self._samples = _read_tables(self.path, self.run_id)

    def latency(self) -> pd.DataFrame:
        self._load()
        return self._latency.copy()

    def done_cells(self) -> set[str]:
        """Cells with an ``ok`` row: a resumed run skips them (error rows are measured again)."""
        self._load()
        done = self._latency[self._latency["status"] == "ok"]["cell"]
        return set(done.tolist())

    def append(self, row: dict, samples: pd.DataFrame | None = None, details: dict | None = None) -> None:
        """Add (or replace) the row of ``row["cell"]`` and its samples, then rewrite the tables.

        ``details`` (per-window facts: warm-up, stop reason, environment probes) goes to
        ``run.json`` under ``cells.<cell>``.
        """
        self._load()
        key = row["cell"]
        new_row = latency_frame([{**row, "schema_version": SCHEMA_VERSION, "run_id": self.run_id}])
        keep = self._latency[self._latency["cell"] != key]
        self._latency = pd.concat([keep, new_row], ignore_index=True) if len(keep) else new_row
        kept_samples = self._samples[self._samples["cell"] != key]
        if samples is not None and len(samples):
            self._samples = pd.concat([kept_samples, _typed(samples, SAMPLE_COLUMNS)], ignore_index=True)
        else:
            self._samples = kept_samples
        atomic.write(self.path / SAMPLES_PARQUET, lambda tmp: self._samples.to_parquet(tmp, index=False))
        atomic.write(self.path / LATENCY_PARQUET, lambda tmp: self._latency.to_parquet(tmp, index=False))
        atomic.write(self.path / LATENCY_CSV, lambda tmp: self._latency.to_csv(tmp, index=False))
        if details is not None and self.exists():
            run = self.read_run_json()
            run.setdefault("cells", {})[key] = details
            self.write_run_json(run)

    def append_accuracy(self, row: dict) -> pd.DataFrame:
        """Add a measured accuracy to ``accuracy.csv``, replacing the row of the same (model, format,
        precision), and rewrite the file atomically; returns the new table. The folder need not hold
        a run yet: ``ghostbench run --out`` into it later keeps the file."""
        missing = [c for c in ACCURACY_COLUMNS if c not in row]
        if missing:
            raise ValueError(f"accuracy row lacks columns {missing}")
        path = self.path / ACCURACY_CSV
        table = pd.DataFrame([row])
        old = read_accuracy(self.path)
        if old is not None:
            same = np.logical_and.reduce([old[c] == row[c] for c in ACCURACY_KEY])
            table = pd.concat([old[~same], table], ignore_index=True)
        atomic.write(path, lambda tmp: table.to_csv(tmp, index=False))
        return table


def _read_file(path: Path, reader: Callable[[Path], pd.DataFrame]) -> pd.DataFrame:
    """``reader(path)`` with any failure of the file format as one :class:`GhostbenchError`: a damaged
    Parquet or CSV file raises whatever its parser meets (ArrowInvalid, UnicodeDecodeError, ...)."""
    try:
        return reader(path)
    except Exception as exc:
        raise GhostbenchError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from None


def _read_parquet(path: Path) -> pd.DataFrame:
    """A Parquet file, its strings checked: pyarrow reads invalid UTF-8 without a word and fails
    only later, wherever a value is first decoded."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    table.validate(full=True)
    return table.to_pandas()


def read_accuracy(folder: str | os.PathLike) -> pd.DataFrame | None:
    """The folder's ``accuracy.csv`` (measured top-1 by model, format and precision), or ``None``."""
    path = Path(folder) / ACCURACY_CSV
    if not path.is_file():
        return None
    table = _read_file(path, lambda p: pd.read_csv(p, dtype={c: str for c in (*ACCURACY_KEY, "data")}))
    missing = [c for c in ACCURACY_COLUMNS if c not in table.columns]
    if missing:
        raise GhostbenchError(
            f"{path}: missing columns {', '.join(missing)} (expected {', '.join(ACCURACY_COLUMNS)})"
        )
    return table


def _read_latency(path: Path) -> pd.DataFrame:
    parquet, csv = path / LATENCY_PARQUET, path / LATENCY_CSV
    source = parquet if parquet.is_file() else csv
    frame = _read_file(source, _read_parquet if source == parquet else pd.read_csv)
    if "schema_version" not in frame.columns:
        raise GhostbenchError(f"{source}: no schema_version column")
    versions = frame["schema_version"].dropna().unique()
    for version in versions:
        _check_version(version.item() if hasattr(version, "item") else version, source)  # numpy -> Python
    return _read_typed(frame, LATENCY_COLUMNS, source)


def _read_typed(frame: pd.DataFrame, columns: dict[str, str], source: Path) -> pd.DataFrame:
    """``_typed`` on a table read from disk: a column that does not convert is one error naming the
    file (pyarrow and pandas raise ValueError, TypeError or OverflowError deep in a cast)."""
    try:
        return _typed(frame, columns)
    except (ValueError, TypeError, OverflowError) as exc:
        raise GhostbenchError(f"{source}: does not follow the results schema ({exc})") from None


def _read_tables(path: Path, run_id: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The latency and samples tables of a run folder; empty ones where nothing was stored yet."""
    if (path / LATENCY_PARQUET).is_file() or (path / LATENCY_CSV).is_file():
        latency = _read_latency(path)
    else:
        latency = latency_frame([])
    samples_path = path / SAMPLES_PARQUET
    if samples_path.is_file():
        samples = _read_typed(_read_file(samples_path, _read_parquet), SAMPLE_COLUMNS, samples_path)
        negative = samples[samples["latency_ns"] < 0]
        if not negative.empty:  # a clock never runs backwards: the file was damaged or edited
            raise GhostbenchError(
                f"{samples_path}: {len(negative)} negative latencies (first in cell "
                f"{negative['cell'].iloc[0]}); the file is damaged"
            )
    else:
        samples = samples_frame(run_id, "", [])
    return latency, samples


def load_run(path: str | os.PathLike) -> tuple[dict, pd.DataFrame, pd.DataFrame]:
    """(``run.json`` content, latency table, samples table) of a run folder.

    Raises :class:`GhostbenchError` for a folder that is not a run or has an unknown schema_version.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise GhostbenchError(f"{folder}: not a results directory (expected run.json, latency.parquet, ...)")
    if not (folder / RUN_JSON).is_file():
        raise GhostbenchError(f"{folder} is not a ghostbench run (no {RUN_JSON})")
    try:
        run = RunStore(folder).read_run_json()
        latency, samples = _read_tables(folder, run.get("run_id", folder.name))
    except GhostbenchError:
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:  # json.JSONDecodeError is a ValueError
        raise GhostbenchError(f"{folder}: cannot read results: {exc}") from None
    return run, latency, samples


def windows_by_cell(samples: pd.DataFrame) -> dict[str, list[np.ndarray]]:
    """cell -> its timed samples (ns, float64), one array per window in window order."""
    out: dict[str, list[np.ndarray]] = {}
    if samples.empty:
        return out
    ordered = samples.sort_values(["cell", "window", "iteration"])
    for (cell, _window), part in ordered.groupby(["cell", "window"], sort=False):
        out.setdefault(str(cell), []).append(part["latency_ns"].to_numpy(dtype=np.float64))
    return out
