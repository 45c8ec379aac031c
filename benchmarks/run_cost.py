"""What a finished ``ghostbench bench`` run spent its wall time on, from its own records.

Phases from ``run.json`` and ``bench.log`` timestamps: exports (run folder made to the last
``artifact`` line, the overhead probe included), measuring (from there to the last ``cell`` line),
total (to ``finished``; the summary table after it is not included). Timed inference is the sum of
``samples.parquet`` (what the latency figures are made of). Also the median width of the cells'
95% confidence intervals, relative to their medians, so a faster run can be checked for not being
a less certain one.

    python benchmarks/run_cost.py results/<run_id> [results/<other_run_id> ...]
"""

from __future__ import annotations

import datetime as dt
import json
import re
import statistics
import sys
from pathlib import Path

import pandas as pd

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \w+ (.*)$")


def _events(log: Path) -> list[tuple[dt.datetime, str]]:
    events = []
    for line in log.read_text().splitlines():
        match = STAMP.match(line)
        if match:
            events.append((dt.datetime.strptime(match[1], "%Y-%m-%d %H:%M:%S,%f"), match[2]))
    return events


def cost(run_dir: Path) -> dict[str, float | str]:
    run = json.loads((run_dir / "run.json").read_text())
    created = dt.datetime.fromisoformat(run["created"].replace("Z", "+00:00")).replace(tzinfo=None)
    finished = dt.datetime.fromisoformat(run["finished"].replace("Z", "+00:00")).replace(tzinfo=None)
    events = _events(run_dir / "bench.log")
    exported = [t for t, text in events if text.startswith("artifact ")]
    windows = [t for t, text in events if text.startswith("window ")]
    cells = [t for t, text in events if text.startswith("cell ")]
    measure_start = exported[-1] if exported else created
    timed_s = pd.read_parquet(run_dir / "samples.parquet", columns=["latency_ns"])["latency_ns"].sum() / 1e9
    latency = pd.read_parquet(run_dir / "latency.parquet")
    ok = latency[latency["status"] == "ok"]
    widths = ((ok["ci_high_ms"] - ok["ci_low_ms"]) / ok["median_ms"]).tolist()
    measuring_s = (cells[-1] - measure_start).total_seconds()
    return {
        "run": run_dir.name,
        "fork_server": str(run["options"].get("fork_server", False)),
        "cells": len(latency),
        "failed": int((latency["status"] != "ok").sum()),
        "windows": len(windows),
        "total_s": (finished - created).total_seconds(),
        "exports_s": (measure_start - created).total_seconds() if exported else 0.0,
        "measuring_s": measuring_s,
        "timed_s": timed_s,
        "timed_share": timed_s / measuring_s,
        "median_ci_width": statistics.median(widths) if widths else float("nan"),
    }


def main(argv: list[str]) -> int:
    rows = [cost(Path(arg)) for arg in argv]
    if not rows:
        print(__doc__)
        return 2
    keys = list(rows[0])
    print("| " + " | ".join(keys) + " |")
    print("|" + " --- |" * len(keys))
    for row in rows:
        cells = [
            f"{v:.3f}"
            if isinstance(v, float) and k in ("timed_share", "median_ci_width")
            else f"{v:.0f}"
            if isinstance(v, float)
            else str(v)
            for k, v in row.items()
        ]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
