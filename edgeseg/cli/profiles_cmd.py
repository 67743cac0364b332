"""``edgeseg profiles``: the built-in operating points as a table."""

from __future__ import annotations

import argparse


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--show", metavar="NAME", help="print one profile's full settings")


def profile_yaml(op: object) -> str:
    """An operating point as the YAML file that would define it (every key, defaults included)."""
    import dataclasses

    import yaml
    return yaml.safe_dump(dataclasses.asdict(op), sort_keys=False)  # type: ignore[call-overload]


def run(args: argparse.Namespace) -> int:
    from edgeseg.profiles.schema import builtin_names, load_profile

    if args.show:
        print(profile_yaml(load_profile(args.show)), end="")
        return 0
    print(f"{'name':<10} {'D':>4} {'S':>3} {'W':<2} {'R':<2} {'fusion':<8} {'adaptive':<22} flow")
    for name in builtin_names():
        op = load_profile(name)
        ad = f"max {op.adaptive.max_interval}, >{op.adaptive.max_inconsistency:.0%}" if op.adaptive else "-"
        print(f"{name:<10} {op.downscale:>4g} {op.keyframe_interval:>3} {'W' if op.warp else '-':<2} {'R' if op.refine else '-':<2} "
              f"{op.fusion:<8} {ad:<22} DIS {op.flow.preset}, scale {op.flow.scale:g}")
    return 0
