"""The board's end of an SSH run; it runs there, from the bundle (``worker/remote/bundle.py``).

``python -m ghostbench.worker.remote.board COMMAND``:

- ``check``: one JSON line, the Python version and the installed versions of the packages a window
  needs, so the laptop can decide whether the board's environment is ready;
- ``snapshot``: one JSON line, ``env.snapshot()`` of the board plus its ``vcgencmd`` readings;
- ``window``: reads one JSON line ``{"payload": <worker request>, "timeout_s": S}``, runs it through
  ``process.spawn`` (a fresh ``python -m ghostbench.worker.process`` with the same JSON protocol,
  isolation and time limit as a local window), adds ``vcgencmd`` readings taken before and after
  the worker to its ``env_before``/``env_after``, and writes the ``WindowOutcome`` as one JSON line.
  The laptop keeps stdin open while it waits; stdin ending first means the SSH connection is gone
  (lost network, Ctrl-C on the laptop), and the worker is killed rather than left running.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.metadata
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

# Distributions a window may need on the board (numpy and scipy always; one TFLite interpreter).
PACKAGES: tuple[str, ...] = ("numpy", "scipy", "psutil", "ai-edge-litert", "tflite-runtime", "onnxruntime")
# ``vcgencmd get_throttled`` bits (Raspberry Pi documentation, "vcgencmd" page).
THROTTLE_BITS: dict[int, str] = {
    0: "under_voltage",
    1: "arm_freq_capped",
    2: "throttled",
    3: "soft_temp_limit",
    16: "under_voltage_occurred",
    17: "arm_freq_capped_occurred",
    18: "throttled_occurred",
    19: "soft_temp_limit_occurred",
}


def parse_vcgencmd(temp_text: str, throttled_text: str) -> dict:
    """``temp=47.2'C`` and ``throttled=0x50005`` into ``{"temp_c", "throttled", "throttled_flags"}``."""
    temp = re.search(r"temp=([-+]?\d+(?:\.\d+)?)", temp_text)
    bits = re.search(r"throttled=(0x[0-9a-fA-F]+)", throttled_text)
    data: dict = {"temp_c": float(temp.group(1)) if temp else None}
    if bits:
        value = int(bits.group(1), 16)
        data["throttled"] = bits.group(1)
        data["throttled_flags"] = [name for bit, name in THROTTLE_BITS.items() if value >> bit & 1]
    return data


def vcgencmd() -> dict:
    """The Pi firmware's temperature and throttle state, or why there is none (never raises)."""
    exe = shutil.which("vcgencmd")
    if exe is None:
        return {"unavailable": "no vcgencmd on this board (it is not running Raspberry Pi OS)"}
    try:
        temp, throttled = (
            subprocess.run([exe, arg], capture_output=True, text=True, timeout=10).stdout
            for arg in ("measure_temp", "get_throttled")
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return {"unavailable": f"vcgencmd failed: {exc}"}
    return parse_vcgencmd(temp, throttled)


def check() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return {"python": list(sys.version_info[:3]), "executable": sys.executable, "packages": versions}


def _kill_children() -> None:
    """Kill the process group of every child (the worker leads its own session and group)."""
    me = os.getpid()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == me:
                os.killpg(int(stat.parent.name), signal.SIGKILL)


def _watch_stdin(done: threading.Event) -> None:
    # Raw reads of fd 0: a daemon thread blocked in sys.stdin's buffer would hold its lock at exit.
    with contextlib.suppress(OSError):
        while os.read(0, 65536):
            pass
    if not done.is_set():  # EOF before the answer: the laptop closed the channel
        _kill_children()
        os._exit(130)


def window() -> dict:
    from ghostbench.worker import process as worker

    request = json.loads(sys.stdin.buffer.readline())
    done = threading.Event()
    threading.Thread(target=_watch_stdin, args=(done,), daemon=True).start()
    before = vcgencmd()
    outcome = worker.spawn(request["payload"], timeout_s=float(request["timeout_s"]))
    after = vcgencmd()
    done.set()
    if outcome.ok:
        outcome.result.setdefault("env_before", {})["vcgencmd"] = before
        outcome.result.setdefault("env_after", {})["vcgencmd"] = after
    return dataclasses.asdict(outcome)


def snapshot() -> dict:
    from ghostbench.worker import env

    return {**env.snapshot(), "vcgencmd": vcgencmd()}


COMMANDS = {"check": check, "snapshot": snapshot, "window": window}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in COMMANDS:
        print(f"usage: python -m ghostbench.worker.remote.board {{{','.join(COMMANDS)}}}", file=sys.stderr)
        return 2
    answer = COMMANDS[args[0]]()
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
