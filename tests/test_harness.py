"""The harness's warm-up and stopping rules, driven exactly by a scripted runner and a fake clock
(pyperf fakes ``perf_counter`` the same way): every latency is planned, so stops are exact."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from ghostbench.core.cell import Cell
from ghostbench.core.window import HarnessConfig
from ghostbench.worker.harness import NS, measure_window

MS = 1_000_000
CELL = Cell("ghostnet_050", "null")


class FakeClock:
    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now


class ScriptedRunner:
    """Returns ``plan(i)`` for the i-th inference and advances the fake clock by it."""

    runtime = "scripted"

    def __init__(self, clock: FakeClock, plan: Callable[[int], int], load_ns: int = 7 * MS) -> None:
        self.clock, self.plan, self.load_ns, self.calls = clock, plan, load_ns, 0

    def version(self) -> str:
        return "0"

    def load(self, cell: Cell, artifact: object) -> None:
        self.clock.now += self.load_ns

    def prepare(self, seed: int) -> None:
        self.seed = seed

    def run_once(self) -> int:
        ns = self.plan(self.calls)
        self.calls += 1
        self.clock.now += ns
        return ns

    def close(self) -> None:
        pass


def _run(plan: Callable[[int], int], **config):
    clock = FakeClock()
    runner = ScriptedRunner(clock, plan)
    result = measure_window(runner, CELL, None, HarnessConfig(**config), seed=3, clock=clock)
    return result, runner


def test_steady_latency_converges_right_after_min_time() -> None:
    result, runner = _run(lambda i: MS + (i % 7) * 1000)
    config = HarnessConfig()
    assert result.load_ns == 7 * MS
    assert result.first_ns == MS
    assert runner.seed == 3
    assert result.settled
    assert result.stop == "converged"
    assert result.halfwidth <= config.target
    # It stops at the first check after min_time: within one check interval (+1 iteration).
    assert (
        config.min_time_s * NS <= result.timed_ns <= (config.min_time_s + config.check_interval_s) * NS + MS
    )
    assert runner.calls == 1 + result.warmup_n + len(result.samples_ns)


def test_cold_iterations_stay_in_warm_up() -> None:
    # 300 cold iterations falling from 5 ms to 1 ms, then flat: none may reach the timed samples.
    def plan(i: int) -> int:
        return 5 * MS - int(4 * MS * i / 300) if i < 300 else MS + (i % 5) * 1000

    result, _ = _run(plan)
    assert result.settled
    assert result.warmup_n >= 300
    assert max(result.samples_ns) < 1.01 * MS


def test_latency_that_never_settles_ends_warm_up_at_its_cap() -> None:
    result, _ = _run(lambda i: MS + i * 2000, warmup_max_s=3.0)  # +0.2% per iteration forever
    assert not result.settled
    assert 3.0 * NS <= result.warmup_ns < 3.1 * NS


def test_bimodal_latency_hits_the_time_cap() -> None:
    # Half the iterations at 1 ms, half at 2 ms: the median's interval spans both modes forever.
    result, _ = _run(lambda i: MS * (1 + i % 2), time_cap_s=4.0)
    assert result.stop == "time_cap"
    assert result.halfwidth > 0.01
    # The last block started before the cap and lasts about one check interval.
    assert 4.0 * NS <= result.timed_ns <= (4.0 + 2 * HarnessConfig().check_interval_s) * NS


def test_min_samples_holds_a_slow_model_past_min_time() -> None:
    result, _ = _run(lambda i: 300 * MS, min_samples=20, warmup_min_iters=3, time_cap_s=60.0)
    assert result.stop == "converged"
    assert len(result.samples_ns) == 20  # 1 per block: 300 ms > the 50 ms check interval


def test_max_samples_bounds_a_window() -> None:
    result, _ = _run(lambda i: 100, max_samples=5000, warmup_min_iters=10)
    assert result.stop == "max_samples"
    assert len(result.samples_ns) == 5000
    assert result.warmup_n <= 5000


@pytest.mark.parametrize(
    "bad",
    [
        {"target": 0},
        {"confidence": 1.5},
        {"min_time_s": 5, "time_cap_s": 1},
        {"warmup_min_s": 2, "warmup_max_s": 1},
        {"min_samples": 10, "max_samples": 5},
    ],
)
def test_config_rejects_nonsense(bad: dict) -> None:
    with pytest.raises(ValueError):
        HarnessConfig(**bad)


def test_config_round_trips_and_refuses_unknown_keys() -> None:
    config = HarnessConfig(time_cap_s=3.0)
    assert HarnessConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown harness settings"):
        HarnessConfig.from_dict({"time_cap": 3})
