"""The Raspberry Pi path (SSH), end to end against a real OpenSSH server.

The test starts Debian's ``sshd`` on a free loopback port with throwaway keys in a temp folder;
the "board" is this machine, reached only through ``ssh``, with its work folder in a temp folder
and this venv's interpreter as the board's existing Python (``SshTarget.remote_python``: no PyPI
here for a venv on the board; the command lines that would make one are checked separately).
A real TFLite GhostNet cell is measured through it; an unreachable host, a refused key, a board
lost in the middle of a run and a worker that crashes on the board each end as a clear error,
with every cell measured before kept. Also here: the worker for artifact backends runs with torch
made unimportable, from the bundle copied to boards and from the installed package.
"""

from __future__ import annotations

import ast
import getpass
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import psutil
import pytest
from rich.console import Console

from ghostbench.bench.measure import MeasureOptions, measure
from ghostbench.bench.orchestrate import BenchSettings, run_plan
from ghostbench.bench.plan import get_profile, make_plan
from ghostbench.bench.store import RunStore, load_run
from ghostbench.commands.cli import main
from ghostbench.core import window
from ghostbench.core.artifact import Artifact
from ghostbench.core.cell import Cell
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.inputs import artifact_input
from ghostbench.core.window import HarnessConfig, WindowOutcome
from ghostbench.exporters import export, parity
from ghostbench.models import registry, user
from ghostbench.runners import create
from ghostbench.worker.remote import bundle
from ghostbench.worker.remote.ssh import SshBoard, SshTarget, bootstrap_commands, remote_script

SSHD = Path("/usr/sbin/sshd")
HAVE_SSH = SSHD.is_file() and all(shutil.which(tool) for tool in ("ssh", "ssh-keygen"))
needs_sshd = pytest.mark.skipif(
    not HAVE_SSH, reason="needs Debian's openssh-server and openssh-client (/usr/sbin/sshd, ssh, ssh-keygen)"
)
# Short windows: this is about the path, not about precise figures.
QUICK = HarnessConfig(
    warmup_min_iters=10,
    warmup_min_s=0.2,
    warmup_max_s=2.0,
    min_samples=50,
    min_time_s=0.5,
    time_cap_s=2.0,
)
# The test's own sshd has a fresh host key each time: no known_hosts entry is written or checked.
CLIENT_OPTIONS = ("StrictHostKeyChecking=no", "UserKnownHostsFile=/dev/null", "LogLevel=ERROR")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Sshd:
    port: int
    key: Path  # authorised
    wrong_key: Path  # not authorised
    proc: subprocess.Popen

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_sshd(folder: Path) -> Sshd:
    """sshd -D on 127.0.0.1:<free port>, keys, config and pid file all in ``folder``."""
    privsep = Path("/run/sshd")  # sshd refuses to start without its privilege separation folder
    if not privsep.is_dir():
        if os.geteuid() != 0:
            pytest.skip("sshd needs /run/sshd, which only root can create")
        privsep.mkdir(mode=0o755, parents=True)
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("host", "id", "wrong"):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / name)], check=True)
    (folder / "authorized_keys").write_text((folder / "id.pub").read_text())
    port = _free_port()
    config = folder / "sshd_config"
    config.write_text(
        f"Port {port}\nListenAddress 127.0.0.1\nHostKey {folder / 'host'}\n"
        f"AuthorizedKeysFile {folder / 'authorized_keys'}\nPidFile {folder / 'sshd.pid'}\n"
        "StrictModes no\nUsePAM no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
        "PubkeyAuthentication yes\nPermitRootLogin prohibit-password\n"
    )
    log = (folder / "sshd.log").open("w")
    proc = subprocess.Popen([str(SSHD), "-D", "-f", str(config), "-e"], stdout=log, stderr=log)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return Sshd(port, folder / "id", folder / "wrong", proc)
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"sshd did not start: {(folder / 'sshd.log').read_text()}")


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    if not HAVE_SSH:
        pytest.skip("needs Debian's openssh-server and openssh-client")
    server = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="module")
def artifacts(artifact_cache: Path) -> dict[str, Artifact]:
    """Real GhostNet 0.5 exports (a cache hit after the first module that needs them)."""
    return {fmt: export("ghostnet_050", fmt, "fp32", cache_dir=artifact_cache) for fmt in ("tflite", "onnx")}


def _target(server: Sshd, workdir: Path, key: Path | None = None) -> SshTarget:
    return SshTarget(
        destination=f"{getpass.getuser()}@127.0.0.1",
        port=server.port,
        identity_file=key or server.key,
        options=CLIENT_OPTIONS,
        workdir=str(workdir),
        remote_python=sys.executable,  # an existing interpreter on the board
    )


def _quiet() -> Console:
    return Console(file=io.StringIO(), width=140)


def test_host_parsing() -> None:
    assert SshTarget.parse("pi@raspberrypi.local") == SshTarget("pi@raspberrypi.local")
    assert SshTarget.parse("pi@10.0.0.7:2222") == SshTarget("pi@10.0.0.7", port=2222)
    assert SshTarget.parse("[::1]:22") == SshTarget("::1", port=22)
    assert SshTarget.parse("pi@[fe80::1%eth0]:2200") == SshTarget("pi@fe80::1%eth0", port=2200)
    assert SshTarget.parse("pi@fe80::1") == SshTarget("pi@fe80::1")  # a bare IPv6 address: no port
    for bad in ("", "-oProxyCommand=x", "pi@host name", "pi@-oX", "host;id", "pi@host:22:33", "pï@host"):
        with pytest.raises(GhostbenchError, match="not an SSH destination"):
            SshTarget.parse(bad)
    for bad in ("pi@host:0", "pi@host:99999", "pi@host:-oX", "pi@[::1]:"):
        with pytest.raises(GhostbenchError, match="is not a number from 1 to 65535"):
            SshTarget.parse(bad)


def test_venv_bootstrap_command_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    """What a board without a ready venv gets (pip needs the network, so it is not run here)."""
    wd = "/home/pi/.cache/ghostbench-remote"
    venv, install, fallback = bootstrap_commands(wd)
    assert venv == ["python3", "-m", "venv", f"{wd}/venv"]
    pip = [f"{wd}/venv/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    assert install == [*pip, "ai-edge-litert", "onnxruntime", "numpy", "scipy", "psutil"]
    assert fallback == [*pip, "tflite-runtime", "numpy<2", "scipy", "psutil"]
    assert remote_script(fallback) == (
        f"{wd}/venv/bin/python -m pip install --disable-pip-version-check --quiet "
        "tflite-runtime 'numpy<2' scipy psutil"
    )
    assert remote_script(["cd", "/home/pi/my boards"], ["pwd"]) == "cd '/home/pi/my boards' && pwd"

    # A board whose venv is missing: the venv and pip commands, in order, then the probe again.
    board = SshBoard(SshTarget("pi@raspberrypi.local"))
    board.workdir, board.bundle_dir = wd, f"{wd}/bundle-0123"
    ran: list[str] = []
    ready = {"python": [3, 11, 2], "packages": {"numpy": "2.2", "scipy": "1.15", "ai-edge-litert": "2.0"}}
    system = {"python": [3, 11, 2], "packages": {}}
    probes = {f"{wd}/venv/bin/python": iter([None, ready]), "python3": iter([system])}

    def run(*commands: list[str], **kwargs: object) -> subprocess.CompletedProcess:
        ran.append(remote_script(*commands))
        return subprocess.CompletedProcess([], 0, b"", b"")

    monkeypatch.setattr(board, "run", run)
    monkeypatch.setattr(board, "_probe", lambda python: next(probes[python]))
    board._ensure_python()
    assert ran == [remote_script(venv), remote_script(install)]
    assert board.python == f"{wd}/venv/bin/python"

    # A board whose python3 is too old stops before a venv is made of it.
    ran.clear()
    probes = {f"{wd}/venv/bin/python": iter([None]), "python3": iter([{"python": [3, 9, 2], "packages": {}}])}
    with pytest.raises(GhostbenchError, match=r"python3 on pi@raspberrypi.local is Python 3.9; .* >= 3.11"):
        board._ensure_python()
    assert ran == []
    board.close()


@needs_sshd
def test_pi_bench_over_ssh_end_to_end(sshd: Sshd, artifacts: dict[str, Artifact], tmp_path: Path) -> None:
    """`bench --device pi --quick` through loopback SSH: a real TFLite and ONNX GhostNet cell, a worker
    that segfaults on the board (an error row, the run goes on), then --resume."""
    board_dir = tmp_path / "board"
    board = SshBoard.connect(_target(sshd, board_dir))
    # A model brought as a file travels to the board as its own artifact (docs/own-models.md).
    shutil.copy(artifacts["tflite"].path, tmp_path / "brought.tflite")
    (brought,) = user.activate([str(tmp_path / "brought.tflite")])
    try:
        assert board.bundle_dir.startswith(str(board_dir)) and board.packages["ai-edge-litert"]
        plan = make_plan(
            get_profile("pi"),
            models=("ghostnet_050", brought),
            backends=("tflite", "onnxruntime"),
            quick=True,
        )
        crash = Cell("ghostnet_050", "null", "pi", options={"fault": "segfault"})
        plan = replace(plan, cells=(*plan.cells, crash))
        cache = artifacts["tflite"].path.parents[2]
        settings = BenchSettings(
            measure=MeasureOptions(rounds=2, harness=QUICK, timeout_s=120), cache_dir=cache
        )
        run_dir = tmp_path / "results" / "pi-run"
        assert run_plan(plan, run_dir, settings, spawn=board.spawn, console=_quiet()) == 2

        run, latency, samples = load_run(run_dir)
        rows = latency.set_index("cell")
        tfl, ort = rows.loc["ghostnet_050/tflite/pi/fp32/t1"], rows.loc["ghostnet_050/onnxruntime/pi/fp32/t1"]
        assert (tfl["status"], tfl["runtime"], tfl["device"], tfl["windows"]) == (
            "ok",
            "ai-edge-litert",
            "pi",
            2,
        )
        assert (ort["status"], ort["runtime"]) == ("ok", "onnxruntime") and ort["n"] > 0
        assert tfl["artifact_sha256"] == artifacts["tflite"].sha256
        crashed = rows.loc[crash.key]
        assert crashed["status"] == "error" and crashed["error"].startswith("worker died from SIGSEGV")
        assert "Segmentation fault" in crashed["error"]
        mine = rows.loc[f"{brought}/tflite/pi/fp32/t1"]
        assert mine["status"] == "ok", mine["error"]
        assert "no_parity" in mine["flags"].split(";")
        assert f"{brought}/onnxruntime/pi/fp32/t1" not in rows.index  # a .tflite file has one backend
        assert set(samples["cell"]) == {tfl.name, ort.name, mine.name}
        window = run["cells"][tfl.name]["windows"][0]
        assert "unavailable" in window["env_before"]["vcgencmd"]  # not a Raspberry Pi OS board
        assert "load_avg" in window["env_after"]  # the board's own probe, taken by its worker
        sha = artifacts["tflite"].sha256
        assert (board_dir / "artifacts" / sha / "model.tflite").read_bytes() == artifacts[
            "tflite"
        ].path.read_bytes()

        # --resume: only the cell without an ok row is measured again.
        assert run_plan(plan, run_dir, settings, resume=True, spawn=board.spawn, console=_quiet()) == 2
        run, again, _ = load_run(run_dir)
        assert len(run["resumed"]) == 1 and len(again) == 4
        assert again.set_index("cell").loc[tfl.name, "median_ms"] == tfl["median_ms"]

        # The same file and harness locally: the SSH path must not change what is timed.
        (local,) = measure(
            [Cell("ghostnet_050", "tflite", "cpu")],
            run_id="local",
            options=MeasureOptions(rounds=2, harness=QUICK, timeout_s=120),
            artifact_for=lambda cell: artifacts["tflite"],
        )
        print(
            f"\nGhostNet 0.5 TFLite t1: over SSH {tfl['median_ms']:.3f} ms, local {local['median_ms']:.3f} ms"
        )
        assert 1 / 3 < tfl["median_ms"] / local["median_ms"] < 3
    finally:
        board.close()
        user.deactivate()


@needs_sshd
def test_unreachable_host_and_refused_key_are_clear_errors(
    sshd: Sshd, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    closed = replace(_target(sshd, tmp_path / "board"), port=_free_port())
    with pytest.raises(GhostbenchError, match=r"cannot reach the board .*Connection refused.*check HOST="):
        SshBoard.connect(closed)
    with pytest.raises(GhostbenchError, match=r"refused the SSH login \(.*Permission denied.*ssh-copy-id"):
        SshBoard.connect(_target(sshd, tmp_path / "board", key=sshd.wrong_key))
    # The same through the command line: one line, exit 2, before any export or result folder.
    out = tmp_path / "results"
    started = time.perf_counter()
    assert (
        main(["bench", "--device", "pi", "--host", f"pi@127.0.0.1:{_free_port()}", "--out-dir", str(out)])
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("ERROR: cannot reach the board pi@127.0.0.1") and err.count("\n") == 1
    assert time.perf_counter() - started < 20 and not out.exists()


def test_pi_without_host_stops_at_once(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert main(["bench", "--device", "pi", "--out-dir", str(tmp_path / "results")]) == 2
    err = capsys.readouterr().err
    assert "make bench DEVICE=pi HOST=user@board" in err and err.count("\n") == 1
    assert not (tmp_path / "results").exists()


@needs_sshd
def test_board_lost_mid_run_keeps_what_was_measured(artifacts: dict[str, Artifact], tmp_path: Path) -> None:
    server = start_sshd(tmp_path / "sshd")
    board = SshBoard.connect(_target(server, tmp_path / "board"))
    cells = [Cell("ghostnet_050", "tflite", "pi"), Cell("ghostnet_050", "onnxruntime", "pi")]
    formats = {"tflite": "tflite", "onnxruntime": "onnx"}

    def lose_board(row: dict) -> None:  # after the first cell: sshd stops, the connection ends
        server.stop()
        subprocess.run(
            ["ssh", *board.options(), "-O", "exit", "--", board.target.destination], capture_output=True
        )

    store = RunStore(tmp_path / "run")
    store.write_run_json({"status": "running"})
    try:
        first, second = measure(
            cells,
            run_id="run",
            options=MeasureOptions(rounds=1, harness=QUICK, timeout_s=120),
            store=store,
            artifact_for=lambda cell: artifacts[formats[cell.backend]],
            on_cell_done=lambda row: None if store.done_cells() != {cells[0].key} else lose_board(row),
            spawn=board.spawn,
        )
    finally:
        board.close()
    assert first["status"] == "ok"
    assert second["status"] == "error" and "cannot reach the board" in second["error"]
    _, latency, samples = load_run(tmp_path / "run")
    assert latency["status"].tolist() == ["ok", "error"] and set(samples["cell"]) == {cells[0].key}


@needs_sshd
def test_a_board_lost_during_a_window_says_so(tmp_path: Path) -> None:
    """The board vanishes mid-window (sshd and its sessions killed, as at a power cut): ssh exits
    255 and says nothing; a fresh login that fails tells a lost board from a remote signal."""
    server = start_sshd(tmp_path / "sshd")
    board = SshBoard.connect(_target(server, tmp_path / "board"))
    hang = Cell("ghostnet_050", "null", "pi", options={"fault": "hang"})
    payload = window.request(hang, None, QUICK.to_dict(), seed=0, window=0)
    outcome: list[WindowOutcome] = []
    thread = threading.Thread(target=lambda: outcome.append(board.spawn(payload, timeout_s=120)))
    try:
        thread.start()
        deadline = time.monotonic() + 60
        sshd = psutil.Process(server.proc.pid)
        while not any("ghostbench.worker.process" in " ".join(p.cmdline()) for p in sshd.children(True)):
            assert time.monotonic() < deadline, "the window never started on the board"
            time.sleep(0.1)
        for proc in [sshd, *sshd.children(recursive=True)]:
            proc.kill()
        thread.join(timeout=180)
    finally:
        board.close()
    where = board.target.destination
    assert outcome and outcome[0].error == (
        f"cannot reach the board {where} over SSH: the connection was lost during the window"
    )


# The worker as `python -m ghostbench.worker.process`, in an interpreter where torch cannot be
# imported (as on a board without it: the import fails, nothing is left in sys.modules).
POISONED = """
import runpy, sys
class NoTorch:
    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError("No module named 'torch' (made unimportable by the test)")
sys.meta_path.insert(0, NoTorch)
runpy.run_module("ghostbench.worker.process", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("where", ["bundle", "package"])
def test_worker_measures_artifacts_without_torch(
    artifacts: dict[str, Artifact], tmp_path: Path, where: str
) -> None:
    """What a board without torch runs: the bundle (as copied to the board) and the installed package."""
    cwd = bundle.write(bundle.files(), tmp_path / "bundle") if where == "bundle" else tmp_path
    found = subprocess.run(
        [sys.executable, "-c", "import ghostbench.worker.process as w; print(w.__file__)"],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert found.startswith(str(cwd)) == (where == "bundle")
    for backend, fmt in (("tflite", "tflite"), ("onnxruntime", "onnx")):
        payload = window.request(
            Cell("ghostnet_050", backend), artifacts[fmt], QUICK.to_dict(), seed=0, window=0
        )
        done = subprocess.run(
            [sys.executable, "-c", POISONED],
            input=json.dumps(payload),
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=120,
        )
        answer = json.loads(done.stdout)
        assert answer["status"] == "ok", done.stderr[-2000:]
        assert len(answer["window"]["samples_ns"]) >= QUICK.min_samples


def test_timing_input_is_the_parity_input(artifacts: dict[str, Artifact]) -> None:
    """The array a worker times is the array parity was checked on (same seed, same values)."""
    x = parity.example_input(registry.get("ghostnet_050"), seed=0)
    for backend, fmt in (("tflite", "tflite"), ("onnxruntime", "onnx")):
        artifact = artifacts[fmt]
        np.testing.assert_array_equal(artifact_input(artifact.meta, seed=0), x.numpy())
        runner = create(backend)
        runner.load(Cell("ghostnet_050", backend), artifact)
        runner.prepare(seed=0)
        runner.run_once()
        expected = parity.run_artifact(artifact, x)
        np.testing.assert_allclose(runner.output(), expected, rtol=1e-5, atol=1e-6)
        runner.close()
    assert not np.array_equal(artifact_input(artifacts["onnx"].meta, seed=1), x.numpy())


def test_bundle_is_small_and_named_by_content() -> None:
    files = bundle.files()
    assert {
        "ghostbench/worker/process.py",
        "ghostbench/worker/remote/board.py",
        "ghostbench/core/window.py",
    } <= set(files)
    # What the board cannot have: torch, or a layer the bundle leaves out, imported when a module loads.
    absent = ("torch", "ghostbench.models", "ghostbench.exporters", "ghostbench.bench", "ghostbench.reports")
    for name, data in files.items():
        for node in ast.parse(data).body:
            targets = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                targets = [node.module or ""]
            bad = [t for t in targets if any(t == a or t.startswith(a + ".") for a in absent)]
            assert not bad, f"{name} imports {bad} at module level"
    assert sum(map(len, files.values())) < 300_000
    assert bundle.digest(files) == bundle.digest(dict(reversed(files.items())))
    assert bundle.tar(files) == bundle.tar(files)
