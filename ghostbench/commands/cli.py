"""The ``ghostbench`` command. Each sub-command lives in ``ghostbench/commands/<name>.py`` with
``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``; heavy imports happen inside ``run``.

Exit codes: 0 ok, 1 a significant slowdown (``compare``), 2 bad input or data.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import signal
import sys

from ghostbench import __version__
from ghostbench.core.errors import GhostbenchError

COMMANDS: dict[str, str] = {
    "models": "ghostbench.commands.models",
    "export": "ghostbench.commands.export",
    "run": "ghostbench.commands.run",
    "bench": "ghostbench.commands.bench",
    "report": "ghostbench.commands.report",
    "compare": "ghostbench.commands.compare",
    "evaluate": "ghostbench.commands.evaluate",
    "history": "ghostbench.commands.history",
}

EXIT_OK, EXIT_REGRESSION, EXIT_USAGE = 0, 1, 2


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP (a CI job cancelled, a terminal closed): unwound like Ctrl-C, so a run
    marks itself ``interrupted``, ends its worker and prints how to resume."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _terminate(signum: int, frame: object) -> None:
    raise Terminated(signum)


def one_line(text: str) -> str:
    """An error as one line: a library's multi-line message (a Thrift or a converter error) joined."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


MEMORY_HINT = "free memory or raise the limit (ulimit -v)"


def environment_failure(exc: BaseException) -> str | None:
    """One line for a failure of the machine rather than of ghostbench (memory, disk, a library
    that cannot load), or None for anything else, which stays a traceback: a bug to report."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, MemoryError):  # pyarrow's ArrowMemoryError is one too
        return f"out of memory ({type(exc).__name__}{': ' + text if text else ''}); {MEMORY_HINT}"
    if isinstance(exc, ImportError):
        if "failed to map segment" in text or "cannot allocate memory" in text.lower():
            return f"out of memory while loading a library ({text}); {MEMORY_HINT}"
        return f"a library failed to load ({text}); reinstall with `make install`"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOMEM, errno.EAGAIN):
        return f"out of memory or processes ({exc.strerror}); {MEMORY_HINT}"
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"no space left ({exc.strerror}: {exc.filename or 'a file'}); free some disk"
    return None


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 as well; keep it to one line
        self.exit(EXIT_USAGE, f"ERROR: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="ghostbench",
        description=(
            "Batch-1 latency benchmarks for efficient CNNs across CPUs, NVIDIA GPUs and ARM boards, "
            "with the complexity (params, MACs, activations) and published accuracy of each model. "
            "Checks two claims: C-Ghost (GhostNet) is the best accuracy/latency trade-off on CPU/ARM, "
            "G-Ghost (G-GhostNet) wins on GPU."
        ),
        epilog=(
            "Run `ghostbench COMMAND --help` for each command. "
            "Exit codes: 0 ok, 1 significant slowdown (compare), 2 bad input."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ghostbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        cmd = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return EXIT_USAGE
    previous = {signum: signal.signal(signum, _terminate) for signum in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return int(args._run(args) or EXIT_OK)
    except GhostbenchError as exc:
        print(f"ERROR: {one_line(str(exc))}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `ghostbench models | head`: the reader left, not an error
        sys.stderr.close()
        return EXIT_OK
    except Terminated as exc:
        print(f"interrupted by {exc}", file=sys.stderr)
        return 128 + exc.signum
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        message = environment_failure(exc)
        if message is None:
            raise
        print(f"ERROR: {message}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
