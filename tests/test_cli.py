"""The command line's own contract: every usage mistake is one ``ERROR:`` line and exit 2 (argparse's
included), list flags that are given must name something, and the machine's failures (memory, a
library that cannot load, a full disk) are one line rather than a traceback."""

from __future__ import annotations

import errno

import pytest

from ghostbench.commands.cli import environment_failure, main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["bench", "--models", ""], "--models '' names nothing; leave --models out for the default"),
        (["bench", "--backends", " , "], "--backends ' , ' names nothing"),
        (["bench", "--precisions", ","], "--precisions ',' names nothing"),
        (["models", "--layers", ""], "argument --layers: a model name cannot be empty"),
        (["models", "--layers", "  "], "argument --layers: a model name cannot be empty"),
        (["export", " ", "--format", "onnx"], "argument model: a model name cannot be empty"),
        (
            ["bench", "--rounds", "x"],
            "argument --rounds: invalid int value: 'x' (see `ghostbench bench --help`)",
        ),
        (["frobnicate"], "argument COMMAND: invalid choice: 'frobnicate'"),
    ],
)
def test_usage_mistakes_are_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's own errors exit from the parser
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith("ERROR: ") and message in err[0], err


def test_model_names_are_stripped_like_bench_does(capsys: pytest.CaptureFixture) -> None:
    assert main(["models", "--layers", " ghostnet_050 ", "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("layer,kind,output_shape,params,macs,activations\nconv_stem,")


@pytest.mark.parametrize(
    ("exc", "message"),
    [
        (MemoryError(), "out of memory (MemoryError); free memory or raise the limit (ulimit -v)"),
        (
            ImportError("libtorch_cpu.so: failed to map segment from shared object"),
            "out of memory while loading a library (libtorch_cpu.so: failed to map segment",
        ),
        (ImportError("No module named 'scipy'"), "a library failed to load (No module named 'scipy')"),
        (
            OSError(errno.ENOMEM, "Cannot allocate memory"),
            "out of memory or processes (Cannot allocate memory)",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/x/y"),
            "no space left (No space left on device: /x/y)",
        ),
    ],
)
def test_the_machines_failures_are_one_line(exc: BaseException, message: str) -> None:
    assert message in (environment_failure(exc) or "")


def test_a_bug_stays_a_traceback() -> None:
    assert environment_failure(KeyError("x")) is None
    assert environment_failure(OSError(errno.EACCES, "Permission denied")) is None


def test_an_arrow_memory_error_is_out_of_memory() -> None:
    import pyarrow as pa

    assert issubclass(pa.lib.ArrowMemoryError, MemoryError)
    assert environment_failure(pa.lib.ArrowMemoryError("malloc of size 64 failed")).startswith(
        "out of memory (ArrowMemoryError: malloc of size 64 failed)"
    )
