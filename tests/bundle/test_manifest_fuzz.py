"""Fuzzing the bundle manifest reader: any manifest.json either loads or raises BundleError; asking a loaded
bundle for a graph either gives a verified path or raises BundleError. Nothing else escapes."""

import json
import shutil

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from edgeseg.bundle import AUTO, BundleError, load_bundle

json_values = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-3, 5), st.floats(allow_nan=False), st.text(max_size=6)),
                           lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                           max_leaves=10)


def mutate(manifest, path, value):
    """Replace the value at a key path (a list of keys into nested dicts) of a copy of ``manifest``."""
    doc = json.loads(json.dumps(manifest))
    node = doc
    for key in path[:-1]:
        if not isinstance(node, dict) or key not in node:
            return doc
        node = node[key]
    if isinstance(node, dict):
        node[path[-1]] = value
    return doc


PATHS = [["format_version"], ["graphs"], ["graphs", "backbone"], ["graphs", "backbone", "file"], ["graphs", "backbone", "sha256"],
         ["graphs", "backbone", "variants"], ["graphs", "refiner", "file"], ["classes"], ["input"], ["engines"], ["precision"]]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from(PATHS), value=json_values, whole=st.booleans())
def test_mutated_manifests_load_or_raise_bundle_error(tiny_set, tmp_path, path, value, whole):
    folder = tmp_path / "b"
    if not folder.exists():
        shutil.copytree(tiny_set[1], folder)
    original = json.loads((tiny_set[1] / "manifest.json").read_text())
    doc = value if whole and path == ["graphs"] else mutate(original, path, value)
    (folder / "manifest.json").write_text(json.dumps(doc))
    try:
        bundle = load_bundle(folder)
        for key in ("backbone", "refiner"):
            for variant in (None, AUTO, "fp32"):
                bundle.graph_path(key, variant=variant)
    except BundleError:
        pass
