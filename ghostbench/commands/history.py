"""Latency over time: keep every finished run's cell summaries in a history store, one per device
(results/history/<device>/history.parquet), and draw it as a dashboard with change points.

history add RUN... stores runs (each in its own device's history; a run already there is kept
once, so adding it again changes nothing). history show writes a self-contained HTML dashboard:
one small plot per cell (run median and 95% interval per run), change points found by ruptures'
PELT and kept only beyond the machine's run noise and the runs' own intervals, each listed with
what changed in the environment at that run. docs/regression.md explains the rule.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "keep runs in a per-device history and draw latency over time with its change points"
DEFAULT_ROOT = Path("results/history")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = sub.add_parser("add", help="store finished runs in their device's history")
    add.add_argument("runs", nargs="+", metavar="RUN", help="results folders of finished runs")
    add.add_argument("--device", help="only this device's history: a run measured elsewhere is an error")
    add.add_argument("--root", type=Path, default=DEFAULT_ROOT, help=f"history root (default {DEFAULT_ROOT})")
    show = sub.add_parser("show", help="write the dashboard of one device's history")
    show.add_argument(
        "--device", help="the device: cpu, gpu (or cuda), pi, android (default: the only one in --root)"
    )
    show.add_argument(
        "--root", type=Path, default=DEFAULT_ROOT, help=f"history root (default {DEFAULT_ROOT})"
    )
    show.add_argument("-o", "--output", type=Path, help="HTML file (default: reports/history-<device>.html)")
    show.add_argument("--json", type=Path, metavar="FILE", help="also write the change points as JSON")
    show.add_argument(
        "--run-noise",
        type=float,
        metavar="FRACTION",
        help="the machine's run noise (e.g. 0.045); default: results/baselines/<device>/noise.json "
        "(make calibrate), else estimated from the history itself",
    )


def _device(name: str) -> tuple[str, str]:
    """(the cells' device, the profile name) for a device given either way: gpu or cuda, pi, ..."""
    from ghostbench.bench.plan import PROFILES

    if name in PROFILES:
        return PROFILES[name].device, name
    profile = next((p.name for p in PROFILES.values() if p.device == name), name)
    return name, profile


def run(args: argparse.Namespace) -> int:
    from ghostbench.bench import history

    if args.action == "add":
        device = _device(args.device)[0] if args.device else None
        done = history.add(args.root, args.runs, device=device)
        for device in sorted(set(done.added) | set(done.present)):
            added, present = done.added.get(device, []), done.present.get(device, [])
            path = history.history_path(args.root, device)
            print(f"{device}: {len(added)} run(s) added, {len(present)} already there ({path})")
        return 0
    return _show(args)


def _show(args: argparse.Namespace) -> int:
    from ghostbench.bench import history, run_noise
    from ghostbench.core.errors import GhostbenchError
    from ghostbench.reports import build_dashboard
    from ghostbench.reports.changepoints import estimate_noise
    from ghostbench.reports.dashboard import series

    if args.device is None:
        found = history.devices(args.root)
        if len(found) != 1:
            listed = ", ".join(found) or "no device"
            raise GhostbenchError(f"--device is needed: {args.root} holds histories of {listed}")
        args.device = found[0]
    device, profile = _device(args.device)
    frame = history.read(args.root, device)
    if args.run_noise is not None:
        if not 0 <= args.run_noise < 1:
            raise GhostbenchError(f"--run-noise is a fraction in [0, 1), got {args.run_noise}")
        sigma, source = args.run_noise, "--run-noise"
    else:
        baseline = Path("results/baselines") / profile
        calibrated = run_noise.read(baseline) if baseline.is_dir() else None
        if calibrated is not None:
            sigma, source = calibrated.sigma, f"{baseline / run_noise.NOISE_FILE}: {calibrated.describe()}"
        else:
            estimated = estimate_noise([s["median_ms"] for s in series(frame).values()])
            if estimated is None:
                raise GhostbenchError(
                    f"the {device} history is too short to estimate its run noise; pass --run-noise"
                )
            sigma, source = estimated, "estimated from this history (no noise.json for this device)"
    out = args.output or Path("reports") / f"history-{device}.html"
    points = build_dashboard(
        frame, device, run_noise=sigma, noise_source=source, out_path=out, json_path=args.json
    )
    runs = frame["run_id"].nunique()
    print(f"{device}: {runs} run(s), {frame['cell'].nunique()} cell(s), {len(points)} change point(s)")
    for p in points:
        print(
            f"  {p['date']} {p['cell']}: {p['before_ms']:.4g} -> {p['after_ms']:.4g} ms "
            f"({100 * p['change']:+.1f} %)"
        )
    print(f"dashboard: {out}")
    return 0
