"""Installed versions of pip distributions, read from their metadata without importing them (a
runtime's import can take seconds or fail on a machine that only reports what it has)."""

from __future__ import annotations

import importlib.metadata


def package_version(distribution: str) -> str:
    """The installed version of a pip distribution, or ``"not installed"``."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
