import os

# Deterministic, single-threaded torch in tests: the suite runs beside other work on 2 cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
