"""An Artifact is an exported model file plus everything needed to trust and reuse it."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


def file_sha256(path: str | Path) -> str:
    """The sha256 of a file's content, read in chunks (artifacts run to hundreds of MB)."""
    with Path(path).open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _checked(
    data: object, types: dict[str, type | tuple[type, ...]], required: tuple[str, ...], what: str
) -> dict:
    """``data`` as a dict whose fields have the given types (bool is not a number here): a sidecar
    read back from disk may have been damaged or edited, and a wrong type would fail far away."""
    if not isinstance(data, dict):
        raise ValueError(f"{what} is not a JSON object")
    unknown = sorted(set(data) - set(types))
    missing = sorted(set(required) - set(data))
    if unknown or missing:
        raise ValueError(f"{what}: unknown fields {unknown}, missing {missing}")
    for name, value in data.items():
        expected = types[name]
        numeric = expected in (int, float, (int, float))
        if not isinstance(value, expected) or (numeric and isinstance(value, bool)):
            raise ValueError(f"{what}: {name} is {type(value).__name__}, not {_names(expected)}")
    return dict(data)


def _names(expected: type | tuple[type, ...]) -> str:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(k.__name__ for k in kinds)


NUMBER = (int, float)


@dataclass(frozen=True)
class Parity:
    """Artifact output vs PyTorch eager on the same fixed-seed input."""

    max_abs: float
    max_rel: float
    cosine: float
    passed: bool
    threshold: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: object) -> Parity:
        types = {"max_abs": NUMBER, "max_rel": NUMBER, "cosine": NUMBER, "passed": bool, "threshold": dict}
        return cls(**_checked(data, types, ("max_abs", "max_rel", "cosine", "passed"), "parity"))


@dataclass(frozen=True)
class Artifact:
    model: str
    format: str  # onnx | tflite | tensorrt
    precision: str
    path: Path
    sha256: str
    key: str  # the cache key (hash of model source, seed, options, versions)
    options: dict = field(default_factory=dict)
    versions: dict = field(default_factory=dict)
    size_bytes: int = 0
    export_s: float = 0.0
    parity: Parity | None = None
    meta: dict = field(default_factory=dict)  # format-specific facts, e.g. {"transpose_ops": 0}

    def to_dict(self) -> dict:
        data = asdict(self)
        data["path"] = str(self.path)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, data: object) -> Artifact:
        """The inverse of :meth:`to_dict`, every field checked (``ValueError`` names the bad one)."""
        text = ("model", "format", "precision", "path", "sha256", "key")
        types: dict = dict.fromkeys(text, str) | {
            "options": dict,
            "versions": dict,
            "meta": dict,
            "size_bytes": int,
            "export_s": NUMBER,
            "parity": (dict, type(None)),
        }
        data = _checked(data, types, text, "artifact")
        data["path"] = Path(data["path"])
        if data.get("parity") is not None:
            data["parity"] = Parity.from_dict(data["parity"])
        return cls(**data)
