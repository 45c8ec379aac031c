"""Exporters: turn a registered model into an ONNX, TFLite or TensorRT artifact, cached by content and
checked numerically against PyTorch eager.

``export(model, fmt, precision)`` is the one entry point. Each format is a module (``onnx``,
``tflite``, ``tensorrt``) with the same small surface: ``PRECISIONS``, ``EXTENSION``, ``EXTRA``,
``defaults(precision)``, ``validate(options)``, ``requirements(precision)``, ``versions(precision)``,
``source(precision, options)`` (the artifact it is derived from, if any) and ``build(...)``.
Heavy libraries are imported inside those functions, so importing this package is cheap. A registry
name is resolved through the zoo manifest (``models.manifest``), so a cache hit imports no torch;
only a build or a parity run loads the model itself.
"""

from __future__ import annotations

import functools
import importlib.util
import time
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from ghostbench.core.artifact import Artifact, Parity
from ghostbench.core.errors import GhostbenchError, MissingDependencyError
from ghostbench.exporters import capture, isolate, parity
from ghostbench.exporters import onnx as _onnx
from ghostbench.exporters import tensorrt as _tensorrt
from ghostbench.exporters import tflite as _tflite
from ghostbench.models import source as model_source

if TYPE_CHECKING:
    from ghostbench.exporters import cache
    from ghostbench.models.registry import ModelSpec

__all__ = ["FORMATS", "Artifact", "ExportError", "Parity", "export", "exporter", "lookup", "resolve_options"]

_EXPORTERS: dict[str, ModuleType] = {"onnx": _onnx, "tflite": _tflite, "tensorrt": _tensorrt}

# Format -> precisions it can produce.
FORMATS: dict[str, tuple[str, ...]] = {name: module.PRECISIONS for name, module in _EXPORTERS.items()}


class ExportError(GhostbenchError):
    """A converter failed on a model; the message names model, format, precision and the cause."""


def exporter(fmt: str) -> ModuleType:
    """The exporter module of ``fmt``; an unknown format is a one-line user error."""
    try:
        return _EXPORTERS[fmt]
    except KeyError:
        raise GhostbenchError(f"unknown format {fmt!r}; formats: {', '.join(FORMATS)}") from None


def resolve_options(fmt: str, precision: str, options: dict | None = None) -> dict:
    """The full option set of an export (defaults filled in), so equal exports share one cache key."""
    module = exporter(fmt)
    if precision not in module.PRECISIONS:
        raise GhostbenchError(
            f"{fmt} does not support precision {precision!r}; it supports {', '.join(module.PRECISIONS)}"
        )
    resolved = module.defaults(precision)
    unknown = sorted(set(options or {}) - set(resolved))
    if unknown:
        known = ", ".join(resolved) or "none"
        raise GhostbenchError(f"unknown {fmt} {precision} option(s) {', '.join(unknown)}; known: {known}")
    resolved |= options or {}
    reason = module.validate(resolved)
    if reason:
        raise GhostbenchError(reason)
    return resolved


def _require(fmt: str, precision: str) -> None:
    module = exporter(fmt)
    for name in module.requirements(precision):
        if importlib.util.find_spec(name) is None:
            raise MissingDependencyError(name, module.EXTRA, f"{fmt} export")


@dataclass(frozen=True)
class _Job:
    model: str | ModelSpec  # as given: a registry name is resolved through the zoo manifest
    name: str
    identity: dict  # the model's part of the cache key (``models.source.identity``)
    module: ModuleType
    fmt: str
    precision: str
    options: dict
    versions: dict
    seed: int
    store: cache.ArtifactCache
    file: dict | None = None  # the model is this ONNX or TFLite file (``manifest.file_facts``)

    @functools.cached_property
    def spec(self) -> ModelSpec:
        """The registered model itself (imports torch): only a build or a parity run needs it."""
        from ghostbench.models import registry

        return self.model if isinstance(self.model, registry.ModelSpec) else registry.get(self.name)

    @property
    def upstream(self) -> tuple[str, str, dict] | None:
        if self.file is not None:  # a TensorRT engine of a model file is built from the file
            return (self.file["format"], self.file["precision"], {})
        return self.module.source(self.precision, self.options)

    def source_job(self) -> _Job | None:
        if self.upstream is None:
            return None
        fmt, precision, options = self.upstream
        root, identity = self.store.root, self.identity
        return _job(self.model, fmt, precision, root, self.seed, options, identity=identity, file=self.file)

    def key(self) -> str:
        """The cache key, chained through the keys of the artifacts this one is derived from.

        Computed from inputs alone, so a cached derived artifact is found without touching its source.
        """
        from ghostbench.exporters import cache

        source = self.source_job()
        return cache.cache_key(
            self.identity,
            self.fmt,
            self.precision,
            seed=self.seed,
            options=self.options,
            versions=self.versions,
            source_key=source.key() if source else None,
        )


def _job(
    model: str | ModelSpec,
    fmt: str,
    precision: str,
    cache_dir: Path | None,
    seed: int,
    options: dict | None,
    identity: dict | None = None,
    file: dict | None = None,
) -> _Job:
    """Validate everything a user can get wrong, before the cache is touched. A registry name is
    looked up in the zoo manifest, so finding a cached artifact imports no torch; ``identity``, when
    the caller has resolved the model already (a derived artifact's source), is used as is."""
    from ghostbench.exporters import cache
    from ghostbench.models.manifest import Zoo, file_facts
    from ghostbench.models.model_file import FORMATS as FILE_SUFFIXES
    from ghostbench.models.registry import ModelSpec, UnknownModelError

    module = exporter(fmt)
    resolved = resolve_options(fmt, precision, options)
    # A model file is its own ONNX or TFLite artifact and needs no exporter, but which models are
    # files is known only from the manifest: any other format's needs are checked before it.
    early = fmt not in FILE_SUFFIXES.values()
    if early:
        _require(fmt, precision)
    store = cache.ArtifactCache(cache_dir)
    if identity is not None:
        name = model.name if isinstance(model, ModelSpec) else model
    elif isinstance(model, ModelSpec):
        name, identity = model.name, model_source.identity(model)
        file = file_facts(model.file) if model.file is not None else None
    else:
        try:
            entry = Zoo(store.root).get(model)
        except UnknownModelError as exc:
            raise GhostbenchError(str(exc)) from None
        name, identity, file = model, entry.identity, entry.file
    if file is not None:
        _check_file_export(name, file, fmt, precision)
    if not early and (file is None or fmt != file["format"]):
        _require(fmt, precision)
    versions = {"exporter": model_source.module_digest(module.__name__)[:16], **module.versions(precision)}
    return _Job(model, name, identity, module, fmt, precision, resolved, versions, seed, store, file)


def _check_file_export(name: str, file: dict, fmt: str, precision: str) -> None:
    """A model file is its own artifact (``model_file.refusal``): nothing else is exported from it."""
    from ghostbench.models.model_file import refusal

    why = refusal(file["format"], file["precision"], file["path"], fmt, precision)
    if why:
        raise GhostbenchError(f"{name} {why}")


def file_artifact(name: str, file: dict) -> Artifact:
    """The artifact of a model file: the file itself, unchanged (a file that changed since it was
    described is an error, not a silent re-read). No eager model exists, so it has no parity."""
    from ghostbench.core.artifact import file_sha256

    path = Path(file["path"])
    if not path.is_file():
        raise GhostbenchError(f"model file not found: {path}")
    if file_sha256(path) != file["sha256"]:
        raise GhostbenchError(f"{path} changed while ghostbench was using it; run again")
    return Artifact(
        model=name,
        format=file["format"],
        precision=file["precision"],
        path=path,
        sha256=file["sha256"],
        key=f"file-{file['sha256'][:16]}",
        size_bytes=path.stat().st_size,
        meta=dict(file["meta"]),
    )


def lookup(
    model: str | ModelSpec,
    fmt: str,
    precision: str = "fp32",
    *,
    cache_dir: Path | None = None,
    seed: int = 0,
    options: dict | None = None,
) -> Artifact | None:
    """The cached artifact ``export`` would return, or None if it would have to build (nothing is built)."""
    job = _job(model, fmt, precision, cache_dir, seed, options)
    if job.file is not None and fmt == job.file["format"]:
        return file_artifact(job.name, job.file)
    return job.store.lookup(job.name, fmt, precision, job.key(), warn=False)


def export(
    model: str | ModelSpec,
    fmt: str,
    precision: str = "fp32",
    *,
    cache_dir: Path | None = None,
    seed: int = 0,
    options: dict | None = None,
    check_parity: bool = True,
) -> Artifact:
    """Export ``model`` to ``fmt`` at ``precision`` (cached), with its parity against PyTorch eager.

    A second call with the same inputs is a cache hit returning the Artifact read from the sidecar.
    Bad input (unknown model, format, precision or option, a missing dependency) raises
    ``GhostbenchError`` before the cache is touched; a converter failure raises ``ExportError``.
    """
    artifact, _ = export_status(
        model, fmt, precision, cache_dir=cache_dir, seed=seed, options=options, check_parity=check_parity
    )
    return artifact


def export_status(
    model: str | ModelSpec,
    fmt: str,
    precision: str = "fp32",
    *,
    cache_dir: Path | None = None,
    seed: int = 0,
    options: dict | None = None,
    check_parity: bool = True,
) -> tuple[Artifact, bool]:
    """:func:`export`, and whether the artifact was already in the cache (for the CLI's summary)."""
    job = _job(model, fmt, precision, cache_dir, seed, options)
    if job.file is not None:
        if fmt == job.file["format"]:
            return file_artifact(job.name, job.file), True
        check_parity = False  # a TensorRT engine of a file: no eager model to compare with
    key = job.key()
    with job.store.lock(key):
        artifact = job.store.lookup(job.name, fmt, precision, key)
        source = None
        if job.upstream is not None and (artifact is None or check_parity):
            src_fmt, src_precision, src_options = job.upstream
            source = export(
                job.model,
                src_fmt,
                src_precision,
                cache_dir=job.store.root,
                seed=seed,
                options=src_options,
                check_parity=check_parity,
            )
        hit = artifact is not None
        if artifact is None:
            artifact = _build(job, key, source)
        if check_parity:
            result = artifact.parity or _run_parity(job, artifact)
            source_passed = source.parity.passed if source is not None and source.parity is not None else None
            result = parity.verdict(result, precision, source_passed)
            if result != artifact.parity:
                artifact = replace(artifact, parity=result)
                job.store.write_sidecar(artifact)
    return artifact, hit


def _run_parity(job: _Job, artifact: Artifact) -> Parity:
    log = artifact.path.parent / capture.LOG_NAME
    try:
        with capture.converter_output(log):
            return parity.check(artifact, job.spec, job.seed)
    except Exception as exc:  # the runtime cannot run the file: as bad as a failed export
        what = f"{job.name} {job.fmt} {job.precision}"
        raise ExportError(f"{what}: parity run failed: {_cause(exc)} (runtime output: {log})") from exc


def _cause(exc: BaseException) -> str:
    text = str(exc).strip()
    if isinstance(exc, isolate.ChildFailure):  # already "Type: message" or how the child died
        return text
    return f"{type(exc).__name__}: {text.splitlines()[0]}" if text else type(exc).__name__


def _build(job: _Job, key: str, source: Artifact | None) -> Artifact:
    spec, fmt, precision, store = job.spec, job.fmt, job.precision, job.store
    tmp = store.new_file(spec.name, fmt, precision, key, job.module.EXTENSION)
    start = time.perf_counter()
    log = tmp.parent / capture.LOG_NAME
    try:
        with capture.converter_output(log):
            args = (spec, precision, job.options)
            kwargs = {"seed": job.seed, "out": tmp, "source": source, "cache_root": store.root}
            if getattr(job.module, "ISOLATE", False):  # it can abort the process: in a child
                meta = isolate.build(job.module.__name__, log, *args, **kwargs)
            else:
                meta = job.module.build(*args, **kwargs)
    except GhostbenchError:
        store.discard(tmp)
        raise
    except Exception as exc:
        store.discard(tmp)
        raise ExportError(
            f"{spec.name} -> {fmt} {precision} failed: {_cause(exc)} (converter output: {log})"
        ) from exc
    except BaseException:  # Ctrl-C mid-conversion: no half-written file left in the entry
        store.discard(tmp)
        raise
    export_s = time.perf_counter() - start
    meta = {
        **meta,
        "seed": job.seed,
        "input_size": spec.input_size,
        "model_source_sha256": model_source.model_source_digest(spec),
        "source": {"format": source.format, "precision": source.precision, "key": source.key}
        if source
        else None,
    }
    artifact = Artifact(
        model=spec.name,
        format=fmt,
        precision=precision,
        path=tmp,
        sha256="",
        key=key,
        options=job.options,
        versions={**source.versions, **job.versions} if source else job.versions,
        export_s=round(export_s, 3),
        meta=meta,
    )
    return store.commit(tmp, artifact)
