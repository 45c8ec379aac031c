"""Placeholder until the export command lands."""

HELP = "(not yet available)"


def add_arguments(parser) -> None:
    pass


def run(args) -> int:
    from ghostbench.errors import GhostbenchError

    raise GhostbenchError("'export' is not available yet")
