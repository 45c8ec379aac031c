"""The machine-speed probe: a fixed, deterministic workload timed at the start and the end of every
run on this machine, so ``compare`` can tell "the code got slower" from "the machine got slower".

Measured on a fresh machine of this project's kind (same CPU model string, same versions) the whole
default profile ran 1.45x (torch) to 2x (ONNX Runtime, LiteRT) slower than on the machine the
baseline came from: nothing in a run's own numbers tells that apart from a regression. The probe
is what a cell's kernels need from the machine, on one pinned core with one thread:

- ``compute``: float32 matrix products of 192 x 192 (numpy's BLAS: the SIMD multiply-add that
  convolutions and GEMMs run on), about 0.15 s of work;
- ``memory``: copies of a 64 MiB float32 array (beyond the last-level cache of the machines this
  project runs on: the bandwidth that depthwise convolutions and large activations are bound by),
  about 0.15 s of work.

Each is repeated :data:`REPEATS` times in a fresh interpreter and reported as the median wall time
of one repetition of fixed work (not the median of tiny blocks: a CPU quota or a noisy neighbour
that takes whole scheduler periods shows in wall time per unit of work, not in the fastest block).
The probe is a signal that the machine differs; it is never used to rescale latencies (the slowdown
above was 2x for one runtime and 1.45x for another: no single factor is right).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

from ghostbench.worker.env import now_iso

REPEATS = 3
MATMUL_N = 192
MATMULS = 1200  # per repetition: about 0.15 s on this project's 2-vCPU VM
COPY_MIB = 64
COPIES = 36  # per repetition: about 0.15 s here
SINGLE_THREAD = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
COMPONENTS: tuple[str, ...] = ("compute", "memory")


def workload() -> dict[str, float]:
    """Run the workload in this process: seconds per repetition of each component (medians)."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    b = rng.standard_normal((MATMUL_N, MATMUL_N), dtype=np.float32)
    out = np.empty_like(a)
    src = np.ones(COPY_MIB * 2**20 // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.matmul(a, b, out=out)  # first touch and BLAS start-up, untimed
    np.copyto(dst, src)
    times: dict[str, list[float]] = {name: [] for name in COMPONENTS}
    for _ in range(REPEATS):
        start = time.perf_counter()
        for _ in range(MATMULS):
            np.matmul(a, b, out=out)
        times["compute"].append(time.perf_counter() - start)
        start = time.perf_counter()
        for _ in range(COPIES):
            np.copyto(dst, src)
        times["memory"].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def measure(timeout_s: float = 60.0) -> dict:
    """The workload in a fresh interpreter pinned to one CPU with one thread: ``{"time": ...,
    "cpu": N, "compute_s": ..., "memory_s": ...}``, or ``{"unavailable": why}``."""
    env = {**os.environ, **SINGLE_THREAD}
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux: unpinned
        cpus = []
    argv = [sys.executable, "-m", "ghostbench.worker.speed"]
    if cpus:
        argv.append(str(cpus[-1]))  # the last usable CPU: the first tends to take the interrupts
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=env)
        result = json.loads(done.stdout)
    except (subprocess.TimeoutExpired, json.JSONDecodeError, OSError) as exc:
        return {"unavailable": f"{type(exc).__name__}: {exc}"}
    if done.returncode != 0 or not isinstance(result, dict):
        return {"unavailable": f"the probe exited {done.returncode}: {done.stderr.strip()[-300:]}"}
    return {"time": now_iso(), **result}


def main(argv: list[str]) -> int:
    cpu = None
    if argv:
        cpu = int(argv[0])
        os.sched_setaffinity(0, {cpu})
    found = workload()
    print(json.dumps({"cpu": cpu, **{f"{name}_s": value for name, value in found.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
