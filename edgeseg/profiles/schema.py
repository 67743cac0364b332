"""The operating point loader: YAML -> ``edgeseg.runtime.operating_point.OperatingPoint``.

Every key is checked: unknown keys, wrong types and out-of-range values are rejected with the file,
the key and what is allowed. The result is a frozen dataclass, so a running pipeline cannot have its
operating point changed under it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from edgeseg.errors import UsageError
from edgeseg.runtime.fusion import fusion_names
from edgeseg.runtime.operating_point import DOWNSCALES, FLOW_PRESETS, Adaptive, FlowParams, IamParams, OperatingPoint

__all__ = ["BUILTIN_DIR", "Adaptive", "IamParams", "OperatingPoint", "ProfileError", "builtin_names", "load_profile",
           "parse_profile"]

BUILTIN_DIR = Path(__file__).resolve().parent  # the built-in YAML files ship inside the package


class ProfileError(UsageError):
    """An operating point file is missing or invalid."""


def builtin_names() -> list[str]:
    """EVS Table 2's points in order (evs01..evs14), then the others by name."""
    return sorted((p.stem for p in BUILTIN_DIR.glob("*.yaml")), key=lambda n: (not n.startswith("evs"), n))


def load_profile(name_or_path: str | Path) -> OperatingPoint:
    """A built-in operating point by name (``evs07``) or a YAML file path."""
    text = str(name_or_path)
    path = Path(text)
    if not path.suffix and not path.exists():
        path = BUILTIN_DIR / f"{text}.yaml"
        if not path.is_file():
            raise ProfileError(f"unknown profile {text!r}; built-ins: {', '.join(builtin_names())}, or pass a YAML file")
    if not path.is_file():
        raise ProfileError(f"profile file {path} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ProfileError(f"{path}: not readable YAML ({str(exc).splitlines()[0]})") from None
    return parse_profile(data, str(path))


def _check(where: str, key: str, value: Any, kind: type | tuple[type, ...], allowed: str, ok: bool = True) -> Any:
    # bool is an int in Python: never accept it where a number is asked for
    wrong_type = not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
    if wrong_type or not ok:
        raise ProfileError(f"{where}: key {key!r} = {value!r} is invalid; allowed: {allowed}")
    return value


def _section(where: str, key: str, data: Any, cls: type, checks: dict[str, tuple[Any, str, Any]]) -> Any:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: key {key!r} must be a mapping with keys {', '.join(checks)}")
    unknown = set(data) - set(checks)
    if unknown:
        raise ProfileError(f"{where}: unknown key {key + '.' + sorted(unknown)[0]!r}; allowed keys: {', '.join(checks)}")
    defaults = cls()
    values = {}
    for name, (kind, allowed, test) in checks.items():
        value = data.get(name, getattr(defaults, name))
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        values[name] = _check(where, f"{key}.{name}", value, kind, allowed, test(value) if isinstance(value, kind) else True)
    return cls(**values)


def parse_profile(data: Any, where: str = "<profile>") -> OperatingPoint:
    """Validate a parsed YAML mapping into an OperatingPoint."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a profile must be a YAML mapping of keys to values")
    known = set(OperatingPoint.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise ProfileError(f"{where}: unknown key {sorted(unknown)[0]!r}; allowed keys: {', '.join(sorted(known))}")
    if "name" not in data:
        raise ProfileError(f"{where}: key 'name' is required")
    name = _check(where, "name", data["name"], str, "a non-empty string", bool(str(data["name"]).strip()))
    d = data.get("downscale", 1.0)
    d = float(d) if isinstance(d, int) and not isinstance(d, bool) else d
    _check(where, "downscale", d, float, " or ".join(map(str, DOWNSCALES)), d in DOWNSCALES)
    s = _check(where, "keyframe_interval", data.get("keyframe_interval", 1), int, "an integer >= 1",
               isinstance(data.get("keyframe_interval", 1), int) and data.get("keyframe_interval", 1) >= 1)
    warp = _check(where, "warp", data.get("warp", True), bool, "true or false")
    refine = _check(where, "refine", data.get("refine", False), bool, "true or false")
    fusions = ("none", *fusion_names())
    fusion = _check(where, "fusion", data.get("fusion", "none"), str, " | ".join(fusions), data.get("fusion", "none") in fusions)
    adaptive = None
    if data.get("adaptive") is not None:
        adaptive = _section(where, "adaptive", data["adaptive"], Adaptive, {
            "max_interval": (int, "an integer >= 1", lambda v: v >= 1),
            "max_inconsistency": (float, "a fraction in [0, 1]", lambda v: 0.0 <= v <= 1.0)})
    flow = _section(where, "flow", data.get("flow", {}), FlowParams, {
        "preset": (str, " | ".join(FLOW_PRESETS), lambda v: v in FLOW_PRESETS),
        "finest_scale": (int, "an integer 0..10", lambda v: 0 <= v <= 10),
        "patch_size": (int, "an integer 4..64", lambda v: 4 <= v <= 64),
        "gd_iterations": (int, "an integer 0..1000", lambda v: 0 <= v <= 1000),
        "variational_iterations": (int, "an integer 0..100", lambda v: 0 <= v <= 100),
        "scale": (float, "a number in (0, 1]", lambda v: 0.0 < v <= 1.0)})
    iam = _section(where, "iam", data.get("iam", {}), IamParams, {
        "dilate": (int, "an integer 0..63", lambda v: 0 <= v <= 63),
        "blur": (int, "an integer 0..63", lambda v: 0 <= v <= 63)})
    if (refine or fusion != "none") and d != 1.0:
        raise ProfileError(f"{where}: refine and fusion need downscale 1.0 (the heads are exported for D = 1.0)")
    if fusion != "none" and (s != 1 or adaptive is not None):
        raise ProfileError(f"{where}: fusion {fusion!r} needs keyframe_interval 1 and no adaptive re-keying "
                           "(the fusion heads run on every frame's segmentation)")
    return OperatingPoint(name=name, downscale=d, keyframe_interval=s, warp=warp, refine=refine, fusion=fusion,
                          adaptive=adaptive, flow=flow, iam=iam)
