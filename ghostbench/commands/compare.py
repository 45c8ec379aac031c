"""Compare a run with a baseline, cell by cell (model, backend, device, precision, threads): the
ratio of medians new/baseline with a bootstrap 95% interval and a Mann-Whitney U p-value. A cell is
slower when the whole interval lies above 1 + max(threshold, the cell's noise), the noise being 2.5
standard deviations of how far two run medians drift apart, estimated from the spread of the window
medians plus the machine's run noise (the baseline's noise.json, from make calibrate); faster
symmetrically. Cells only in one run, cells
that failed, and cells measured on other hardware or runtime versions, throttled or on a busy
machine are listed as such, not judged. Each run times a fixed reference workload at its start and
end (the machine-speed probe): when the new run's machine ran it faster or slower than the
baseline's beyond the noise, the runs are not comparable (exit 2) unless --judge-anyway. Exit 0:
no regression; 1: a cell is significantly slower or fails now; 2: bad input, runs of different
devices or machines, or nothing comparable. The rule and
its reasons: docs/regression.md."""

from __future__ import annotations

import argparse
import json

HELP = "regression check of a run against a baseline (exit 1 on a significant slowdown)"


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"a fraction in [0, 1) is expected (0.05 = 5 %), got {text}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("baseline", metavar="BASELINE_RUN", help="results folder of the baseline")
    parser.add_argument("new", metavar="NEW_RUN", help="results folder of the run to check")
    parser.add_argument(
        "--threshold",
        type=_fraction,
        default=0.05,
        metavar="FRACTION",
        help="smallest change that counts, as a fraction (default 0.05 = 5 %%); "
        "a noisier cell uses its own noise level instead",
    )
    parser.add_argument(
        "--run-noise",
        type=_fraction,
        metavar="FRACTION",
        help="how far this machine moves a run's medians between runs, beyond the windows' spread "
        "(standard deviation as a fraction, e.g. 0.03); default: BASELINE_RUN/noise.json written by "
        "make calibrate, else 0",
    )
    parser.add_argument(
        "--judge-anyway",
        action="store_true",
        help="judge the cells even when the two machines ran the speed probe differently (exit 2 "
        "otherwise): every cell then carries the machine's difference",
    )
    parser.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write a Markdown summary to FILE (e.g. $GITHUB_STEP_SUMMARY)",
    )


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ghostbench.bench import compare as cmp
    from ghostbench.core import atomic
    from ghostbench.reports import compare_text as text
    from ghostbench.reports import fmt
    from ghostbench.reports.fmt import ms

    result = cmp.compare_runs(
        args.baseline, args.new, args.threshold, run_noise=args.run_noise, judge_anyway=args.judge_anyway
    )
    console = Console(highlight=False)
    if not console.is_terminal:  # CI logs: wide enough that a cell key fits on one line
        console = Console(highlight=False, width=max(console.width, 160))
    table = Table(
        title=Text(f"ghostbench compare: {result.baseline.run_id} → {result.new.run_id}"),
        caption=Text(cmp.RULE),
        caption_justify="left",
    )
    for name, justify in (
        ("cell", "left"),
        ("verdict", "left"),
        ("baseline", "right"),
        ("new", "right"),
        ("change", "right"),
        ("95 % interval", "right"),
        ("margin", "right"),
        ("p (MWU)", "right"),
        ("note", "left"),
    ):
        table.add_column(name, justify=justify, overflow="fold")
    styles = {cmp.REGRESSION: "bold red", cmp.FAILED: "bold red", cmp.IMPROVEMENT: "green"}
    for c in result.cells:
        texts = (
            c.cell,
            text.STATUS_TEXT[c.status],
            ms(c.baseline_ms),
            ms(c.new_ms),
            fmt.change(c.ratio),
            fmt.change_range(c.ratio_low, c.ratio_high),
            text.fmt_margin(c.margin),
            text.fmt_p(c.p_value),
            c.reason,
        )
        # Text, not str: a cell key or an error message must never be read as rich markup.
        table.add_row(*(Text(fmt.printable(t)) for t in texts), style=styles.get(c.status, ""))
    console.print(table, markup=False)
    for d in result.environment:
        console.print(fmt.printable(f"environment differs: {d.key}: {d.baseline} → {d.new}"), markup=False)
    for note in result.notes:
        console.print(fmt.printable(f"note: {note}"), markup=False)
    console.print(f"run noise: {result.run_noise_source}", markup=False)
    verdict = "REGRESSION" if result.regressed else "no regression"
    console.print(f"{verdict}: {text.summary_line(result)}", markup=False)
    if args.json:
        atomic.write_text(args.json, json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n")
    if args.markdown:
        atomic.write_text(args.markdown, text.to_markdown(result))
    return result.exit_code
