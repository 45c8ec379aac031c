"""The entries of two runs' ``run.json`` ``env`` that differ: hardware, drivers, library versions."""

from __future__ import annotations

from ghostbench.bench.compare.result import EnvDifference, as_text

# run.json env entries worth listing when they differ (dotted paths into ``env``).
ENV_KEYS: tuple[str, ...] = (
    "cpu.model",
    "cpu.logical_cores",
    "cpu.governor",
    "gpu.driver",
    "torch.version",
    "torch.cuda",
    "torch.cudnn",
    "host.python",
)


def _dig(env: dict, dotted: str) -> str:
    value: object = env
    for part in dotted.split("."):
        if not isinstance(value, dict):
            return ""
        value = value.get(part)
    if isinstance(value, dict):
        return "unavailable" if "unavailable" in value else ""
    return as_text(value)


def _gpu_names(env: dict) -> str:
    gpu = env.get("gpu")
    devices = gpu.get("devices") if isinstance(gpu, dict) else None
    if not isinstance(devices, list):
        return ""
    return ", ".join(as_text(d.get("name")) for d in devices if isinstance(d, dict))


def environment_differences(baseline_env: dict, new_env: dict) -> tuple[EnvDifference, ...]:
    """Entries of ``run.json`` ``env`` that differ: hardware, drivers, library versions."""
    found = []
    keys = [*ENV_KEYS, *(f"versions.{k}" for k in sorted(_keys(baseline_env, new_env, "versions")))]
    for key in keys:
        b, n = _dig(baseline_env, key), _dig(new_env, key)
        if b != n:
            found.append(EnvDifference(key, b or "–", n or "–"))
    b, n = _gpu_names(baseline_env), _gpu_names(new_env)
    if b != n:
        found.append(EnvDifference("gpu.devices", b or "–", n or "–"))
    return tuple(found)


def _keys(a: dict, b: dict, section: str) -> set[str]:
    keys: set[str] = set()
    for env in (a, b):
        part = env.get(section)
        if isinstance(part, dict) and "unavailable" not in part:
            keys |= set(part)
    return keys
