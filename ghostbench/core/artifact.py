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


@dataclass(frozen=True)
class Parity:
    """Artifact output vs PyTorch eager on the same fixed-seed input."""

    max_abs: float
    max_rel: float
    cosine: float
    passed: bool
    threshold: dict = field(default_factory=dict)


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
    def from_dict(cls, data: dict) -> Artifact:
        data = dict(data)
        data["path"] = Path(data["path"])
        if data.get("parity") is not None:
            data["parity"] = Parity(**data["parity"])
        return cls(**data)
