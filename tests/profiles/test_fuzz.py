"""Fuzzing the profile loader: any YAML document or mapping either loads or raises ProfileError naming the
file; nothing else escapes (no KeyError/TypeError tracebacks from a hand-edited profile)."""

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from edgeseg.profiles.schema import OperatingPoint, ProfileError, load_profile, parse_profile

KEYS = ["name", "downscale", "keyframe_interval", "warp", "refine", "fusion", "adaptive", "flow", "iam"]
SUBKEYS = ["preset", "finest_scale", "patch_size", "gd_iterations", "variational_iterations", "scale", "dilate", "blur",
           "max_interval", "max_inconsistency"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 40), st.floats(allow_nan=True, allow_infinity=True),
                    st.text(max_size=8), st.sampled_from(["none", "stgru", "gcrf", "netwarp", "ultrafast", "fast", "medium"]))
values = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(st.sampled_from(SUBKEYS) | st.text(max_size=5), inner,
                                                                        max_size=4)), max_leaves=8)
documents = st.one_of(values, st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), values, max_size=8))


@settings(max_examples=300, deadline=None)
@given(doc=documents)
def test_any_mapping_loads_or_raises_profile_error(doc):
    try:
        op = parse_profile(doc, where="fuzz.yaml")
    except ProfileError as exc:
        assert "fuzz.yaml" in str(exc)
    else:
        assert isinstance(op, OperatingPoint) and op.keyframe_interval >= 1 and 0 < op.downscale <= 1


@settings(max_examples=100, deadline=None)
@given(text=st.text(max_size=200))
def test_any_text_file_loads_or_raises_profile_error(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("p") / "fuzz.yaml"
    path.write_text(text)
    try:
        load_profile(path)
    except ProfileError as exc:
        assert str(path) in str(exc)


def test_yaml_of_a_valid_point_round_trips():
    doc = {"name": "x", "downscale": 0.5, "keyframe_interval": 7, "warp": True, "refine": False}
    assert parse_profile(yaml.safe_load(yaml.safe_dump(doc))).keyframe_interval == 7
