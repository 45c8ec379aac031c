"""Regression check between two stored runs: which cells got slower or faster beyond the noise.

``compare`` reads only stored results (``docs/results-schema.md``) and is otherwise a pure function
of them. Cells are matched by their key (model, backend, device, precision, threads, options). For
each matched cell:

- the *ratio* is median(new) / median(baseline) over all timed samples;
- its 95% interval comes from a bootstrap of both medians: :data:`RESAMPLES` draws (fixed seed) from
  the exact bootstrap distribution of each run's sample median, whose CDF at the k-th order
  statistic is P(Binomial(n, k/n) >= (n + 1) // 2). That is Efron's percentile bootstrap of the
  pooled samples without building any resample, so a cell with 100 000 samples costs milliseconds;
- the interval only knows the samples, and a run's median moves more than that between runs: each
  window is a fresh process at another moment (on the shared 2-CPU development machine, window
  medians of one cell had a standard deviation of 2-4 % on an idle machine). So the *window noise*
  sigma of a cell is the larger of its two runs' window spread ((max - min) / median of the window
  medians) divided by d2(windows), the expected range of that many normal draws (1.128 for 2,
  1.693 for 3), and at least the median of that figure over all fairly compared cells (two windows
  that happen to agree prove little). The windows of one run are seconds to minutes apart and
  miss slower drift, so the machine's *run noise* sigma_run (``run_noise.py``: measured once per
  machine from a series of runs and kept in the baseline's ``noise.json``; 0 without one) adds to
  it. The *noise* is Z sqrt(sigma^2 (1/k_base + 1/k_new) + 2 sigma_run^2) with :data:`Z` = 2.5: how
  far the run medians of an unchanged cell may drift apart;
- the *margin* is max(threshold, noise). The cell is a **regression** when the interval's lower
  bound is above 1 + margin, an **improvement** when its upper bound is below 1 - margin, and
  unchanged otherwise. The Mann-Whitney U p-value is reported beside it, not used: with thousands
  of samples it calls every shift of a noisy machine significant.

A run with one window of a cell shows nothing of how its median moves, and its CV is no stand-in:
in 10 A/A comparisons of one-window quick runs on the development machine, 4 of 52 cells moved
10-23 % with CVs of 4-15 %. Such cells are listed as not comparable.

A cell cannot be judged fairly when the two rows differ in hardware (``device_name``), runtime or
runtime version, when either row was flagged ``throttled``, or when the machine was busy while
either run measured it (a 1-minute load average above the logical CPU count + 0.5 in the probes that
``run.json`` keeps around every window: other work shared the CPUs, which moved whole runs by 2x on
the shared development machine). Such cells are listed as ``not_comparable`` with the reason and
never counted as regressions. A cell that ran in the baseline and fails in the new run counts as a
regression (its latency is unbounded). Runs of different devices, or of different hardware
throughout, are a usage error, not a regression.
"""

from __future__ import annotations

from ghostbench.bench.compare.environment import environment_differences
from ghostbench.bench.compare.judge import SINGLE_WINDOW, compare_runs, decide
from ghostbench.bench.compare.result import *  # noqa: F403  (its __all__: statuses, result types, RULE)
from ghostbench.bench.compare.result import __all__ as _RESULT_NAMES
from ghostbench.bench.compare.stats import d2, mann_whitney_p, median_draws, ratio_interval

__all__ = [
    *_RESULT_NAMES,
    "SINGLE_WINDOW",
    "compare_runs",
    "d2",
    "decide",
    "environment_differences",
    "mann_whitney_p",
    "median_draws",
    "ratio_interval",
]
