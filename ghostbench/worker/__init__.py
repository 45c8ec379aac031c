"""The side that measures: the timing harness, the machine probes, the worker process that runs
one window in isolation, and the drivers that run windows on a board (SSH) or a phone (adb).

It drives runners and speaks the window protocol of ``ghostbench.core.window``; it knows nothing of
plans, results folders or reports. ``core/``, ``runners/`` and this folder are the board's bundle.
"""
