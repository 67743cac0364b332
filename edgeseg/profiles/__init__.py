"""Operating points: small typed YAML files (``<name>.yaml`` here for the built-ins). Torch-free."""

from edgeseg.profiles.schema import (
    BUILTIN_DIR,
    Adaptive,
    IamParams,
    OperatingPoint,
    ProfileError,
    builtin_names,
    load_profile,
    parse_profile,
)

__all__ = ["BUILTIN_DIR", "Adaptive", "IamParams", "OperatingPoint", "ProfileError", "builtin_names", "load_profile",
           "parse_profile"]
