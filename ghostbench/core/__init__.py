"""The ground floor: the data contract every other layer speaks and nothing else.

Errors, atomic writes, the Cell and its vocabularies, the Artifact, the fixed-seed input, the
window protocol and the statistics of latency samples. Standard library, numpy and scipy only (no
torch, no runtime, nothing above it): the whole folder ships to an ARM board in the worker bundle.
"""
