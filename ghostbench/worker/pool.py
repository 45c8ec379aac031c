"""The warm workers of one measurement, and which one runs each window: a fork server for a CPU
cell (``worker.forkserver``), a backend's session worker for a CUDA cell (``worker.session``), a
fresh interpreter otherwise or when a server fails (``worker.process``)."""

from __future__ import annotations

import logging

from ghostbench.core.window import WindowOutcome
from ghostbench.worker import forkserver, process, session

log = logging.getLogger(__name__)


class Pool:
    """The warm workers of one measurement, made on first use and ended by :meth:`close`: fork
    servers for CPU windows (``enabled``) and, with ``sessions``, a session worker per backend for
    the windows of ``session_devices`` (CUDA; ``worker.session``).

    ``spawn`` has the signature of ``process.spawn``, so ``bench.measure`` takes either.
    """

    def __init__(
        self,
        *,
        enabled: bool = True,
        sessions: bool = False,
        session_devices: tuple[str, ...] = session.DEVICES,
    ) -> None:
        self.enabled = enabled and forkserver.supported()
        self.sessions = sessions
        self.session_devices = session_devices
        self._servers: dict[tuple[tuple[str, ...], int], forkserver.ForkServer] = {}
        self._workers: dict[tuple[str, str], session.SessionWorker] = {}
        self.fallbacks = 0  # windows that ran in a fresh worker because a server failed

    def spawn(self, payload: dict, *, timeout_s: float) -> WindowOutcome:
        cell = payload.get("cell", {})
        worker_key = session.key_for(cell, self.session_devices) if self.sessions else None
        if worker_key is not None:
            return self._in_session(worker_key, payload, timeout_s)
        preload = forkserver.preload_for(cell) if self.enabled else None
        if preload is None:
            return process.spawn(payload, timeout_s=timeout_s)
        key = (preload, int(cell.get("threads", 1)))
        try:
            server = self._servers.get(key)
            if server is None:
                server = self._servers[key] = forkserver.ForkServer(preload, threads=key[1])
            return server.run(payload, timeout_s=timeout_s)
        except forkserver.ServerLost as exc:
            log.warning("%s; this window runs in a fresh worker", exc)
            self.fallbacks += 1
            lost = self._servers.pop(key, None)
            if lost is not None:
                lost.close()
            return process.spawn(payload, timeout_s=timeout_s)

    def _in_session(self, key: tuple[str, str], payload: dict, timeout_s: float) -> WindowOutcome:
        """A window in the session worker of ``key``; a worker that died between windows is
        replaced, and one whose window failed is ended (``worker.session``)."""
        worker = self._workers.get(key)
        if worker is not None and not worker.alive():
            worker.close()
            worker = None
        if worker is None:
            worker = self._workers[key] = session.SessionWorker()
        result = worker.run(payload, timeout_s=timeout_s)
        if not result.ok:
            self._workers.pop(key).close()
        return result

    def close(self) -> None:
        for server in self._servers.values():
            server.close()
        self._servers.clear()
        for worker in self._workers.values():
            worker.close()
        self._workers.clear()

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
