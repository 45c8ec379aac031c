"""Errors a user can fix. The CLI prints them as one line and exits with code 2 (no traceback)."""


class GhostbenchError(Exception):
    """Bad input or an environment that cannot do what was asked; the message says what to do."""


class MissingDependencyError(GhostbenchError):
    """An optional dependency is not installed; the message names the extra that provides it."""

    def __init__(self, module: str, extra: str, what: str = "") -> None:
        purpose = f" for {what}" if what else ""
        super().__init__(f"{module} is not installed{purpose}: pip install 'ghostbench[{extra}]'")
        self.module = module
        self.extra = extra
