"""Read the text TFLite's ``benchmark_model`` prints into the numbers of one measurement window.

The format is taken from the tool's source (google-ai-edge/LiteRT ``tflite/tools/benchmark/``,
formerly tensorflow/tensorflow ``tensorflow/lite/tools/benchmark/``), not guessed:

- ``BenchmarkModel::Run(min_num_times, ...)`` logs ``Running benchmark for at least N iterations
  and at least S seconds but terminate if exceeding M seconds.`` and then that run's statistics;
  ``Run()`` does it twice, warm-up first, then the timed runs;
- the statistics are ``Stat::OutputToStream`` (xla ``xla/tsl/util/stats_calculator.h``, formerly
  ``tensorflow/core/util/stats_calculator.h``): ``count=N first=F curr=C min=m max=M avg=A std=S``,
  or ``count=N curr=C(all same)`` when every run took the same time; ``StatWithPercentiles`` (what
  current LiteRT builds of the tool keep) appends `` p5=P median=Q p95=R``, older builds print none. ``avg``
  is a double in the stream's default format, so a run over a second prints ``1.23457e+06``;
- ``BenchmarkLoggingListener::OnBenchmarkEnd`` logs ``Inference timings in us: Init: I, First
  inference: F, Warmup (avg): W, Inference (avg): A`` (TensorFlow 1.x builds: ``Average inference
  timings in us: Warmup: W, Init: I, Inference: A``); ``Init`` also logs ``Initialized session in
  X ms.``;
- every line goes through ``TFLITE_LOG`` (``tflite/tools/logging.h``): ``INFO: `` and ``WARN: ``
  on stdout, ``ERROR: `` on stderr; logcat copies carry an ``I tflite :`` style prefix instead.

All times the tool prints are microseconds. It keeps no per-iteration samples, so a window it
measured carries its statistics (``reported``) in place of samples, and ``core.stats.summarize_reported``
turns those into the row's figures.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass

from ghostbench.core.errors import GhostbenchError

NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
STAT_KEYS: tuple[str, ...] = ("count", "first", "curr", "min", "max", "avg", "std", "p5", "median", "p95")
_STAT = re.compile(rf"(?<![\w.])({'|'.join(STAT_KEYS)})=({NUMBER})(?![\w.])")
_RUN = re.compile(
    rf"Running benchmark for (?:at least )?(\d+) iterations(?: and at least ({NUMBER}) seconds)?"
    rf"(?: but terminate if exceeding ({NUMBER}) seconds)?"
)
_TIMINGS = re.compile(r"(?:Average )?[Ii]nference timings in us:(.*)")
_TIMING_ITEM = re.compile(rf"([A-Za-z][A-Za-z ()]*?)\s*:\s*({NUMBER})")
_SESSION = re.compile(rf"Initialized session in ({NUMBER})\s*ms")
_ERROR = re.compile(r"\b(?:ERROR|FATAL)\b:?\s*(.*)")
# Relative slack when checking min <= avg <= max: avg is printed with six significant digits.
_ROUNDING = 1e-5


class BenchmarkOutputError(GhostbenchError):
    """benchmark_model's output is not what the tool prints on success; the message says what is off."""


@dataclass(frozen=True)
class RunStats:
    """One ``count=...`` line, in microseconds; percentiles are None where the build prints none."""

    count: int
    first_us: float
    curr_us: float
    min_us: float
    max_us: float
    avg_us: float
    std_us: float
    p5_us: float | None = None
    median_us: float | None = None
    p95_us: float | None = None


@dataclass(frozen=True)
class BenchmarkOutput:
    """What one benchmark_model invocation reported."""

    init_us: float
    first_us: float  # the first (cold) inference
    warmup: RunStats
    timed: RunStats
    timed_min_runs: int  # the N of "Running benchmark for at least N iterations" (timed phase)


def _clip(text: str, limit: int = 400) -> str:
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


def parse_stats(line: str) -> RunStats:
    """One statistics line (any log prefix) into :class:`RunStats`; anything else raises."""
    values: dict[str, float] = {}
    for key, number in _STAT.findall(line):
        values.setdefault(key, float(number))
    if "count" not in values:
        raise BenchmarkOutputError(f"unreadable statistics line {_clip(line)!r}")
    count = values["count"]
    if count != int(count) or count < 1:
        raise BenchmarkOutputError(f"benchmark_model ran no timed iterations (count={count:g})")
    if "(all same)" in line or (count == 1 and "avg" not in values):
        if "curr" not in values:
            raise BenchmarkOutputError(f"no curr= in the statistics line {_clip(line)!r}")
        same = values["curr"]
        values = {"first": same, "min": same, "max": same, "avg": same, "std": 0.0, **values}
    missing = [k for k in ("first", "curr", "min", "max", "avg", "std") if k not in values]
    if missing:
        raise BenchmarkOutputError(f"the statistics line lacks {', '.join(missing)}: {_clip(line)!r}")
    if any(not math.isfinite(v) or v < 0 for v in values.values()):
        raise BenchmarkOutputError(f"negative or non-finite time in {_clip(line)!r}")
    slack = _ROUNDING * values["max"]
    if not values["min"] - slack <= values["avg"] <= values["max"] + slack:
        raise BenchmarkOutputError(f"avg outside [min, max] in {_clip(line)!r}")
    return RunStats(
        count=int(count),
        first_us=values["first"],
        curr_us=values["curr"],
        min_us=values["min"],
        max_us=values["max"],
        avg_us=values["avg"],
        std_us=values["std"],
        p5_us=values.get("p5"),
        median_us=values.get("median"),
        p95_us=values.get("p95"),
    )


def parse_output(text: str) -> BenchmarkOutput:
    """The warm-up and timed statistics, init and first-inference times of one run's output.

    Raises :class:`BenchmarkOutputError` naming the tool's own ``ERROR:`` lines when it failed,
    or what is missing when the text is not benchmark_model's.
    """
    runs: list[tuple[int, RunStats | None]] = []
    timings: dict[str, float] = {}
    session_ms: float | None = None
    errors: list[str] = []
    for line in text.splitlines():
        if match := _RUN.search(line):
            runs.append((int(match.group(1)), None))
        elif "count=" in line and runs and runs[-1][1] is None:
            runs[-1] = (runs[-1][0], parse_stats(line))
        elif match := _TIMINGS.search(line):
            timings = {k.strip(): float(v) for k, v in _TIMING_ITEM.findall(match.group(1))}
        elif match := _SESSION.search(line):
            session_ms = float(match.group(1))
        elif match := _ERROR.search(line):
            errors.append(match.group(1).strip())
    done = [(n, s) for n, s in runs if s is not None]
    if len(done) < 2:
        said = f"; it said: {' | '.join(errors)[-600:]}" if errors else ""
        found = "no warm-up or timed run" if not done else "a warm-up but no timed run"
        raise BenchmarkOutputError(f"benchmark_model output has {found} (count=... lines){said}")
    (_, warmup), (min_runs, timed) = done[0], done[1]
    assert warmup is not None and timed is not None
    init_us = timings.get("Init", session_ms * 1000 if session_ms is not None else None)
    if init_us is None:
        raise BenchmarkOutputError("benchmark_model output has no init time (Init: or Initialized session)")
    first_us = timings.get("First inference", warmup.first_us)
    return BenchmarkOutput(init_us, first_us, warmup, timed, min_runs)


def window(output: BenchmarkOutput, settle_tolerance: float) -> dict:
    """The harness's window fields (``WindowResult``) for one benchmark_model run, in ns.

    The tool keeps no samples (``samples_ns`` is empty) and has no stopping rule: ``stop`` is
    ``time_cap`` when it ran fewer than the requested runs before ``--max_secs``, else
    ``minimums`` (it ran its minimum count and time). ``settled`` is the tool's warm-up without its
    cold first run averaging within ``settle_tolerance`` of the timed runs.
    """
    warm, timed = output.warmup, output.timed
    settled = False
    if warm.count > 1 and timed.avg_us > 0:
        warm_avg = (warm.avg_us * warm.count - warm.first_us) / (warm.count - 1)
        settled = abs(warm_avg / timed.avg_us - 1) <= settle_tolerance
    return {
        "samples_ns": [],
        "load_ns": round(output.init_us * 1000),
        "first_ns": round(output.first_us * 1000),
        "warmup_n": warm.count,
        "warmup_ns": round(warm.avg_us * warm.count * 1000),
        "settled": settled,
        "stop": "time_cap" if timed.count < output.timed_min_runs else "minimums",
        "timed_ns": round(timed.avg_us * timed.count * 1000),
        "halfwidth": None,
    }


def reported(output: BenchmarkOutput) -> dict:
    """The timed run's statistics in ns, as stored in the worker answer (``reported``)."""
    return {
        key.removesuffix("_us") + "_ns": None if value is None else value * 1000
        for key, value in asdict(output.timed).items()
        if key != "count"
    } | {"count": output.timed.count}
