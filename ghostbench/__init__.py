"""ghostbench: cross-device batch-1 latency benchmarks for efficient CNNs."""

__version__ = "0.1.0"
