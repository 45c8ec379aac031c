"""Placeholder until the evaluate command lands."""

HELP = "(not yet available)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from ghostbench.errors import GhostbenchError

    raise GhostbenchError("'evaluate' is not available yet")
