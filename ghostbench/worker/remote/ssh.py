"""Measure on a Linux ARM board (a Raspberry Pi) over SSH, with the same worker as a local run.

The system OpenSSH client does everything, through one control master (``ControlMaster``), so a run
opens one connection and each window costs a multiplexed session, not a handshake. On first use:

1. a work folder on the board (``SshTarget.workdir``, default ``~/.cache/ghostbench-remote``);
2. the worker bundle (``bundle.py``: harness, runners, no torch), streamed as a tar, named by digest;
3. a venv there with ai-edge-litert (or tflite-runtime on 32-bit systems), onnxruntime, numpy and
   scipy, created once and reused (or an existing interpreter: ``SshTarget.remote_python``).

Each window then uploads its artifact once (named by sha256) and runs ``board.py window`` in the
bundle: the board runs ``python -m ghostbench.worker.process`` with the same JSON protocol and time
limit as a local window and answers with one JSON line, the ``WindowOutcome``.

Every remote command is a list of arguments joined with ``shlex.join`` (each one ``shlex.quote``-d);
files travel as ssh's stdin into ``cat``/``tar`` rather than by ``scp``, whose remote paths are
shell-quoted in its legacy protocol but literal in its SFTP one (the default since OpenSSH 9.0).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import selectors
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ghostbench.core.artifact import file_sha256
from ghostbench.core.errors import GhostbenchError
from ghostbench.core.window import WindowOutcome
from ghostbench.worker.process import crash_tail
from ghostbench.worker.remote import bundle

log = logging.getLogger("ghostbench.bench.remote")

BOARD_MODULE = "ghostbench.worker.remote.board"
MIN_PYTHON = (3, 11)
# What the board's venv gets; the fallback serves 32-bit Raspberry Pi OS, which has no
# ai-edge-litert or onnxruntime wheels (tflite-runtime 2.14 needs numpy<2, docs/backends.md).
BOARD_PACKAGES: tuple[str, ...] = ("ai-edge-litert", "onnxruntime", "numpy", "scipy", "psutil")
FALLBACK_PACKAGES: tuple[str, ...] = ("tflite-runtime", "numpy<2", "scipy", "psutil")
# Options on every ssh: never prompt (a benchmark must not hang on a password or host-key question),
# give up on an unreachable board in 10 s, and notice a board that went away within a minute.
SSH_OPTIONS: tuple[str, ...] = (
    "BatchMode=yes",
    "ConnectTimeout=10",
    "ServerAliveInterval=15",
    "ServerAliveCountMax=4",
)
CONTROL_PERSIST = "10m"  # the master outlives an idle gap between windows, not a crashed parent
# The laptop waits this much beyond the board's own window timeout for SSH and the probes.
SSH_MARGIN_S = 60.0
COMMAND_TIMEOUT_S = 120.0
INSTALL_TIMEOUT_S = 1800.0  # pip on a Raspberry Pi: scipy and onnxruntime wheels, a slow SD card
SSH_FAILED = 255  # ssh's own exit status for connection and authentication failures


@dataclass(frozen=True)
class SshTarget:
    """Where the board is and how to log in; what ``--host`` does not say comes from ~/.ssh/config."""

    destination: str  # [user@]host
    port: int | None = None
    identity_file: Path | None = None
    options: tuple[str, ...] = ()  # extra ``-o`` options, e.g. "StrictHostKeyChecking=accept-new"
    workdir: str = ".cache/ghostbench-remote"  # on the board; relative to the login folder
    remote_python: str | None = None  # an existing interpreter on the board instead of WORKDIR/venv

    @classmethod
    def parse(cls, host: str) -> SshTarget:
        """``[user@]host[:port]`` or ``[user@][ipv6]:port``, as given to ``--host``/``HOST=``; a
        bare IPv6 address has no port. The port must be 1-65535; user and host take the
        characters of names and addresses only (nothing ssh could read as an option)."""
        text = host.strip()
        bracketed = _BRACKETED.fullmatch(text)
        if bracketed:
            user, address, port_text = bracketed.group("user", "address", "port")
            destination = f"{user}@{address}" if user else address
        else:
            head, sep, tail = text.rpartition(":")
            destination, port_text = (head, tail) if sep and ":" not in head else (text, None)
        port = None
        if port_text is not None:
            if not (port_text.isascii() and port_text.isdigit() and 1 <= int(port_text) <= 65535):
                raise GhostbenchError(f"--host {host!r}: port {port_text!r} is not a number from 1 to 65535")
            port = int(port_text)
        address = destination.rpartition("@")[2]
        if not _DESTINATION.fullmatch(destination) or (":" in address and not _is_ipv6(address)):
            raise GhostbenchError(
                f"--host {host!r} is not an SSH destination; give user@host[:port] or user@[ipv6]:port"
            )
        return cls(destination=destination, port=port)


# ``user@[::1]:22``; a name or address, optionally after ``user@``, neither starting with "-".
_BRACKETED = re.compile(r"(?:(?P<user>[^@\[\]]+)@)?\[(?P<address>[^\]]+)\](?::(?P<port>.*))?")
_DESTINATION = re.compile(r"(?:[A-Za-z0-9_.+][\w.+-]*@)?[A-Za-z0-9_.:%][\w.:%-]*", re.ASCII)


def _is_ipv6(address: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return False
    return True


def remote_script(*commands: Sequence[str]) -> str:
    """One remote shell command line: each command's arguments quoted, commands joined by ``&&``."""
    return " && ".join(shlex.join(command) for command in commands)


def bootstrap_commands(workdir: str) -> tuple[list[str], list[str], list[str]]:
    """The board-side argv that make its venv: create it, install the packages, or the fallback."""
    venv = f"{workdir}/venv"
    pip = [f"{venv}/bin/python", "-m", "pip", "install", "--disable-pip-version-check", "--quiet"]
    return ["python3", "-m", "venv", venv], [*pip, *BOARD_PACKAGES], [*pip, *FALLBACK_PACKAGES]


_REFUSED = re.compile(r"Permission denied|Too many authentication failures")
_HOST_KEY = re.compile(r"Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED")
_UNREACHABLE = re.compile(
    r"Connection refused|Could not resolve|No route to host|timed out|Network is unreachable|"
    r"Connection closed|Connection reset|Broken pipe|closed by remote host|kex_exchange_identification"
)

# Any of ssh's own explanations: with none, exit 255 is a lost board or a remote signal.
_SSH_SAID = re.compile("|".join(p.pattern for p in (_REFUSED, _HOST_KEY, _UNREACHABLE)))


def describe_failure(target: str, stderr: str, returncode: int | None) -> str:
    """One line saying why ssh exited 255 on ``target``, and what to do about it. Without one of
    ssh's own messages, 255 means the remote command was killed by a signal."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip() and "Warning:" not in line]
    said = lines[-1] if lines else f"ssh exited with {returncode}"
    if _REFUSED.search(stderr):
        return (
            f"the board {target} refused the SSH login ({said}); ghostbench logs in without a "
            f"password (BatchMode), so install your key there first: ssh-copy-id {target}"
        )
    if _HOST_KEY.search(stderr):
        return f"the host key of {target} is unknown or changed ({said}); check it with: ssh {target}"
    if _UNREACHABLE.search(stderr):
        return f"cannot reach the board {target} over SSH ({said}); check HOST= and that sshd runs there"
    return f"the command on {target} was killed by a signal or ssh failed (exit {returncode}): {said}"


def _exchange(argv: list[str], request: bytes, timeout_s: float) -> tuple[int | None, bytes, bytes, bool]:
    """Run ``argv`` with ``request`` on its stdin, which stays open until it exits, so the remote
    side sees the channel close (and stops its worker) only if this side goes away.

    Returns (exit status, stdout, stderr, timed out); a timeout or an exception kills the process.
    """
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    out_fd, err_fd = proc.stdout.fileno(), proc.stderr.fileno()
    chunks: dict[int, list[bytes]] = {out_fd: [], err_fd: []}
    timed_out = False
    try:
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(request)
            proc.stdin.flush()
        deadline = time.monotonic() + timeout_s
        with selectors.DefaultSelector() as selector:
            for stream in (proc.stdout, proc.stderr):
                selector.register(stream, selectors.EVENT_READ)
            while selector.get_map():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    timed_out = True
                    break
                for key, _ in selector.select(remaining):
                    data = os.read(key.fd, 65536)
                    if data:
                        chunks[key.fd].append(data)
                    else:
                        selector.unregister(key.fileobj)
        if timed_out:
            proc.kill()
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        proc.wait(timeout=30)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        proc.stdout.close()
        proc.stderr.close()
    return proc.returncode, b"".join(chunks[out_fd]), b"".join(chunks[err_fd]), timed_out


class SshBoard:
    """One board for one run: the control master, the bundle, the interpreter, uploaded artifacts."""

    def __init__(self, target: SshTarget) -> None:
        self.target = target
        self._control = Path(tempfile.mkdtemp(prefix="gb-ssh-"))  # short: a socket path has a limit
        self._uploaded: set[str] = set()
        self.workdir = ""
        self.bundle_dir = ""
        self.python = ""
        self.packages: dict = {}
        self.snapshot: dict = {}

    @classmethod
    def connect(cls, target: SshTarget) -> SshBoard:
        """Log in, install what is missing on the board, and return a board ready for windows."""
        if shutil.which("ssh") is None:
            raise GhostbenchError("DEVICE=pi needs OpenSSH's ssh client here (apt install openssh-client)")
        board = cls(target)
        try:
            board.open()
        except BaseException:
            board.close()
            raise
        return board

    # ----------------------------------------------------------------- commands
    def options(self, *, shared: bool = True) -> list[str]:
        """``-o`` options shared by every ssh of this board: the control master included, or, with
        ``shared=False``, a connection of its own (to test whether the board is still there)."""
        control = [
            "ControlMaster=auto",
            f"ControlPath={self._control / 'master'}",
            f"ControlPersist={CONTROL_PERSIST}",
        ]
        opts = [*SSH_OPTIONS, *(control if shared else ["ControlMaster=no", "ControlPath=none"])]
        if self.target.port is not None:
            opts.append(f"Port={self.target.port}")
        if self.target.identity_file is not None:
            opts += [f"IdentityFile={self.target.identity_file}", "IdentitiesOnly=yes"]
        opts += self.target.options
        return [arg for opt in opts for arg in ("-o", opt)]

    def ssh_argv(self, script: str) -> list[str]:
        """The local argv that runs ``script`` (built by :func:`remote_script`) on the board."""
        return ["ssh", *self.options(), "--", self.target.destination, script]

    def run(
        self,
        *commands: Sequence[str],
        script: str | None = None,
        stdin: bytes | Path | None = None,
        timeout_s: float = COMMAND_TIMEOUT_S,
        check: bool = True,
    ) -> subprocess.CompletedProcess:
        """Run ``commands`` (or a prepared ``script``) on the board; with ``check``, any failure
        raises a one-line error. ``stdin`` is bytes or a file to stream to the remote command."""
        script = script if script is not None else remote_script(*commands)
        argv = self.ssh_argv(script)
        try:
            if isinstance(stdin, Path):
                with stdin.open("rb") as handle:
                    done = subprocess.run(
                        argv, stdin=handle, capture_output=True, timeout=timeout_s, start_new_session=True
                    )
            else:
                done = subprocess.run(
                    argv, input=stdin or b"", capture_output=True, timeout=timeout_s, start_new_session=True
                )
        except subprocess.TimeoutExpired:
            raise GhostbenchError(
                f"the board {self.target.destination} did not finish {script[:200]!r} within {timeout_s:g} s"
            ) from None
        stderr = done.stderr.decode(errors="replace")
        if done.returncode == SSH_FAILED:
            raise GhostbenchError(describe_failure(self.target.destination, stderr, SSH_FAILED))
        if check and done.returncode != 0:
            raise GhostbenchError(
                f"on {self.target.destination}, {script[:200]!r} failed with exit status "
                f"{done.returncode}: {crash_tail(stderr)[-600:]}"
            )
        return done

    # ----------------------------------------------------------------- setup
    def open(self) -> None:
        wd = self.target.workdir
        self.workdir = self.run(["mkdir", "-p", wd], ["cd", wd], ["pwd"]).stdout.decode().strip()
        log.info("connected to %s, work folder %s", self.target.destination, self.workdir)
        self._upload_bundle()
        self._ensure_python()
        self.snapshot = json.loads(self._board("snapshot").stdout)
        log.info("board: %s", json.dumps(self.snapshot.get("cpu", {})))

    def _board(self, command: str, **kwargs: object) -> subprocess.CompletedProcess:
        return self.run(["cd", self.bundle_dir], [self.python, "-m", BOARD_MODULE, command], **kwargs)

    def _upload_bundle(self) -> None:
        content = bundle.files()
        self.bundle_dir = f"{self.workdir}/bundle-{bundle.digest(content)[:16]}"
        if self.run(["test", "-d", self.bundle_dir], check=False).returncode == 0:
            return
        incoming = f"{self.bundle_dir}.incoming-{os.getpid()}"
        log.info("uploading the worker bundle to %s:%s", self.target.destination, self.bundle_dir)
        self.run(
            ["rm", "-rf", incoming],
            ["mkdir", "-p", incoming],
            ["tar", "-x", "-f", "-", "-C", incoming],
            ["mv", incoming, self.bundle_dir],
            stdin=bundle.tar(content),
        )

    def _probe(self, python: str) -> dict | None:
        """What ``python`` on the board has (``board.py check``), or None if it does not run."""
        done = self.run(["cd", self.bundle_dir], [python, "-m", BOARD_MODULE, "check"], check=False)
        if done.returncode != 0:
            return None
        return json.loads(done.stdout)

    def _ensure_python(self) -> None:
        wanted = self.target.remote_python
        python = wanted or f"{self.workdir}/venv/bin/python"
        found = self._probe(python)
        if wanted is None and (found is None or _missing(found)):
            self._require_version("python3", self._probe("python3"))  # before a venv is made of it
            self._bootstrap()
            found = self._probe(python)
        self._require_version(python, found)
        assert found is not None
        missing = _missing(found)
        if missing:
            raise GhostbenchError(
                f"{python} on {self.target.destination} lacks {', '.join(missing)}: install it there "
                f"({python} -m pip install {' '.join(missing)})"
                + ("" if wanted is None else ", or drop remote_python to let ghostbench make a venv")
            )
        self.python, self.packages = python, found["packages"]
        if not found["packages"].get("onnxruntime"):
            log.warning("no onnxruntime on %s: its onnxruntime cells will fail", self.target.destination)

    def _require_version(self, python: str, found: dict | None) -> None:
        if found is None:
            raise GhostbenchError(f"cannot run {python} on the board {self.target.destination}")
        if tuple(found["python"][:2]) < MIN_PYTHON:
            version = ".".join(map(str, found["python"][:2]))
            raise GhostbenchError(
                f"{python} on {self.target.destination} is Python {version}; the worker needs "
                f">= {'.'.join(map(str, MIN_PYTHON))} (Raspberry Pi OS bookworm or later)"
            )

    def _bootstrap(self) -> None:
        """Create ``WORKDIR/venv`` and install the runtimes: once per board, reused afterwards."""
        venv, install, fallback = bootstrap_commands(self.workdir)
        log.info("creating %s/venv on %s (first use)", self.workdir, self.target.destination)
        self.run(venv, timeout_s=INSTALL_TIMEOUT_S)
        first = self.run(install, timeout_s=INSTALL_TIMEOUT_S, check=False)
        if first.returncode == 0:
            return
        log.warning(
            "pip could not install %s; trying %s", " ".join(BOARD_PACKAGES), " ".join(FALLBACK_PACKAGES)
        )
        second = self.run(fallback, timeout_s=INSTALL_TIMEOUT_S, check=False)
        if second.returncode != 0:
            raise GhostbenchError(
                f"could not install the runtimes on {self.target.destination}: "
                f"{crash_tail(second.stderr.decode(errors='replace'))[-600:]}; install them there by hand "
                "(numpy, scipy, ai-edge-litert or tflite-runtime, onnxruntime) and pass remote_python"
            )

    # ----------------------------------------------------------------- windows
    def _remote_artifact(self, artifact: dict) -> dict:
        """The artifact as the board sees it, uploaded first if the board lacks it."""
        local = Path(artifact["path"])
        if not local.is_file():
            raise GhostbenchError(f"artifact not found: {local}")
        if not artifact.get("sha256"):
            artifact = {**artifact, "sha256": file_sha256(local)}
        sha = artifact["sha256"]
        folder = f"{self.workdir}/artifacts/{sha}"
        # Named by content, not by the local name: a model file a user brought may hold the same
        # bytes as an export under another name, and both must find the one upload.
        remote = f"{folder}/model{local.suffix}"
        if remote not in self._uploaded:
            if self.run(["test", "-f", remote], check=False).returncode != 0:
                log.info("uploading %s (%.1f MB)", local, local.stat().st_size / 1e6)
                part = f"{remote}.part-{os.getpid()}"
                write = f"cat > {shlex.quote(part)}"  # the file arrives on stdin
                script = " && ".join(
                    (remote_script(["mkdir", "-p", folder]), write, shlex.join(["mv", part, remote]))
                )
                self.run(script=script, stdin=local, timeout_s=INSTALL_TIMEOUT_S)
            self._uploaded.add(remote)
        return {**artifact, "path": remote}

    def spawn(self, payload: dict, *, timeout_s: float) -> WindowOutcome:
        """One window on the board; every way it can end becomes a :class:`WindowOutcome`."""
        start = time.perf_counter()
        try:
            cell = {**payload["cell"], "device": "cpu"}  # the board's own CPU runs the cell
            artifact = self._remote_artifact(payload["artifact"]) if payload.get("artifact") else None
        except GhostbenchError as exc:
            return WindowOutcome(status="error", error=str(exc), wall_s=time.perf_counter() - start)
        request = {"payload": {**payload, "cell": cell, "artifact": artifact}, "timeout_s": timeout_s}
        argv = self.ssh_argv(
            remote_script(["cd", self.bundle_dir], ["exec", self.python, "-m", BOARD_MODULE, "window"])
        )
        returncode, out, err, timed_out = _exchange(
            argv, (json.dumps(request) + "\n").encode(), timeout_s + SSH_MARGIN_S
        )
        wall_s = time.perf_counter() - start
        stderr = err.decode(errors="replace")
        where = self.target.destination
        if timed_out:
            reason = f"no answer from the board {where} within {timeout_s + SSH_MARGIN_S:g} s; ssh was closed"
        elif returncode == SSH_FAILED and not _SSH_SAID.search(stderr) and not self.reachable():
            # ssh says nothing when the board vanishes mid-window (powered off, sshd killed).
            reason = f"cannot reach the board {where} over SSH: the connection was lost during the window"
        elif returncode == SSH_FAILED:
            reason = describe_failure(where, stderr, returncode)
        else:
            answer = _last_json(out)
            if isinstance(answer, dict) and answer.get("status") in ("ok", "error"):
                return WindowOutcome(**answer)
            reason = f"the remote worker on {where} exited with code {returncode} and no result"
        tail = crash_tail(stderr)
        return WindowOutcome(
            status="error",
            error=f"{reason}\n{tail}".strip(),
            returncode=returncode,
            wall_s=wall_s,
            stderr_tail=tail,
        )

    def reachable(self) -> bool:
        """Whether a fresh SSH login to the board works now (``true`` within ``ConnectTimeout``)."""
        argv = ["ssh", *self.options(shared=False), "--", self.target.destination, "true"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=COMMAND_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return False
        return done.returncode == 0

    def close(self) -> None:
        """End the control master (the board keeps its venv, bundle and artifacts for next time)."""
        if (self._control / "master").exists():
            subprocess.run(
                ["ssh", *self.options(), "-O", "exit", "--", self.target.destination],
                capture_output=True,
                timeout=30,
                check=False,
            )
        shutil.rmtree(self._control, ignore_errors=True)


def _missing(found: dict) -> list[str]:
    packages = found["packages"]
    missing = [name for name in ("numpy", "scipy") if not packages.get(name)]
    if not (packages.get("ai-edge-litert") or packages.get("tflite-runtime")):
        missing.append("ai-edge-litert")
    return missing


def _last_json(out: bytes) -> object:
    lines = [line for line in out.decode(errors="replace").splitlines() if line.strip()]
    if not lines:
        return None
    try:
        return json.loads(lines[-1])
    except json.JSONDecodeError:
        return None
