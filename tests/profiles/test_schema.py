"""Operating point files: the built-ins match EVS Table 2, and bad files are refused with file and key named."""

import pytest
import yaml

from edgeseg.profiles import ProfileError, builtin_names, load_profile

TABLE2 = {"evs14": (0.5, 17, True, False), "evs13": (0.5, 10, False, False), "evs12": (0.5, 10, True, False),
          "evs11": (1.0, 10, False, False), "evs10": (1.0, 10, True, False), "evs09": (0.5, 5, False, False),
          "evs08": (1.0, 5, False, False), "evs07": (1.0, 5, True, False), "evs06": (1.0, 5, True, True),
          "evs05": (1.0, 3, True, False), "evs04": (1.0, 3, True, True), "evs03": (1.0, 2, True, False),
          "evs02": (1.0, 2, True, True), "evs01": (1.0, 1, True, True)}


def test_builtins_reproduce_evs_table2():
    assert set(TABLE2) | {"grfp", "netwarp", "gcrf", "adaptive"} == set(builtin_names())
    for name, dswr in TABLE2.items():
        op = load_profile(name)
        assert (op.downscale, op.keyframe_interval, op.warp, op.refine) == dswr and op.fusion == "none"
    assert load_profile("grfp").fusion == "stgru" and load_profile("gcrf").keyframe_interval == 1
    assert load_profile("adaptive").adaptive.max_inconsistency == 0.05


def write(tmp_path, **changes):
    data = yaml.safe_load(open(load_profile.__globals__["BUILTIN_DIR"] / "evs07.yaml"))
    data.update(changes)
    path = tmp_path / "p.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize("changes, key", [
    ({"speed": 3}, "speed"),
    ({"keyframe_interval": 0}, "keyframe_interval"),
    ({"downscale": 1.5}, "downscale"),
    ({"warp": "yes"}, "warp"),
    ({"keyframe_interval": 2.5}, "keyframe_interval"),
    ({"fusion": "crf"}, "fusion"),
    ({"flow": {"preset": "ultrafast", "scale": 0}}, "flow.scale"),
    ({"flow": {"presett": "fast"}}, "flow.presett"),
    ({"adaptive": {"max_interval": 10, "max_inconsistency": 2}}, "adaptive.max_inconsistency"),
])
def test_invalid_profiles_name_file_and_key(tmp_path, changes, key):
    path = write(tmp_path, **changes)
    with pytest.raises(ProfileError) as err:
        load_profile(path)
    assert str(path) in str(err.value) and repr(key) in str(err.value)


def test_unknown_profile_name_lists_the_builtins():
    with pytest.raises(ProfileError, match="evs07"):
        load_profile("evs99")
