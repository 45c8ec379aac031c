"""Write one self-contained HTML report of one or more results directories: accuracy vs latency
with the Pareto front, activations and MACs vs latency, rank changes across devices, latency
distributions, every cell, the environment, and verdicts on the C-Ghost (CPU) and G-Ghost (GPU)
claims computed by stated rules. No model code runs; plots are inlined, nothing is fetched."""

from __future__ import annotations

import argparse

HELP = "HTML report (plots, tables, verdicts) of one or more results directories"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="results/<run_id> folders")
    parser.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="HTML file to write (default: reports/<run_id>.html; several runs: ids joined by '+')",
    )
    parser.add_argument(
        "--markdown",
        metavar="FILE",
        help="also write a short Markdown summary (verdicts and median latencies), e.g. $GITHUB_STEP_SUMMARY",
    )
    parser.add_argument(
        "--models",
        metavar="PATTERNS",
        default="",
        help="comma-separated names or wildcards for the distribution plots (default: all models)",
    )


def run(args: argparse.Namespace) -> int:
    from ghostbench.reports import build_report

    models = [p.strip() for p in args.models.split(",") if p.strip()]
    path = build_report(args.run_dirs, args.output, args.markdown, models)
    print(path)
    return 0
