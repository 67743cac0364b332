"""The typed manifest: export writes it, the runtime reads and validates it, and format 1 bundles (written by
the exporter before format 2, kept as a fixture) still load and run."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgeseg.bundle import BundleError, load_bundle
from edgeseg.bundle.manifest import FORMAT_VERSION, Manifest, OutputSpec

V1 = Path(__file__).resolve().parents[1] / "fixtures" / "bundle_v1"


def test_a_format_1_bundle_loads_with_the_values_format_1_implied():
    bundle = load_bundle(V1)
    m = bundle.manifest
    assert m.format_version == 1
    assert m.input.channels == "rgb" and m.input.scale == 255.0 and m.input.size == [64, 96]
    assert m.output == OutputSpec(name="logits", kind="scores", stride=4)
    assert [i.name for i in m.graphs["backbone"].inputs] == ["image"]


def test_a_format_1_bundle_runs_an_operating_point():
    from edgeseg.runtime.operating_point import OperatingPoint
    from edgeseg.runtime.pipeline.core import Pipeline
    rng = np.random.default_rng(0)
    frames = [rng.integers(0, 255, (64, 96, 3), dtype=np.uint8) for _ in range(4)]
    with Pipeline(load_bundle(V1), OperatingPoint(name="t", keyframe_interval=2)) as pipe:
        outs = [pipe.process(f) for f in frames]
    assert [o.keyframe for o in outs] == [True, False, True, False]
    assert all(o.labels.shape == (64, 96) and o.labels.max() < 11 for o in outs)


def test_the_written_manifest_reads_back_to_the_same_object(tiny_set, tmp_path):
    path = tiny_set[1] / "manifest.json"
    doc = json.loads(path.read_text())
    manifest = Manifest.from_json(doc, path)
    assert manifest.to_json() == doc and doc["format_version"] == FORMAT_VERSION


def test_upgrading_a_format_1_manifest_and_writing_it_gives_format_2(tmp_path):
    shutil.copytree(V1, tmp_path / "b")
    doc = load_bundle(tmp_path / "b").manifest.to_json()
    assert doc["format_version"] == FORMAT_VERSION and doc["output"]["stride"] == 4
    (tmp_path / "b" / "manifest.json").write_text(json.dumps(doc))
    assert load_bundle(tmp_path / "b").manifest.to_json() == doc


@pytest.mark.parametrize("key, value, named", [(("input", "mean"), [0, 0], "input.mean"),
                                               (("classes", "names"), [], "classes.names"),
                                               (("graphs", "backbone", "inputs"), {}, "graphs.backbone.inputs"),
                                               (("output",), {"stride": "4"}, "output.stride")])
def test_a_damaged_manifest_names_the_key(tmp_path, key, value, named):
    shutil.copytree(V1, tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    doc = json.loads(path.read_text())
    node = doc
    for k in key[:-1]:
        node = node[k]
    node[key[-1]] = value
    path.write_text(json.dumps(doc))
    with pytest.raises(BundleError, match=named.replace(".", r"\.")):
        load_bundle(tmp_path / "b")


def test_a_missing_bundle_and_a_folder_without_a_manifest_are_told_apart(tmp_path):
    with pytest.raises(BundleError, match="does not exist"):
        load_bundle(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(BundleError, match=r"not an edgeseg bundle \(no manifest.json\)"):
        load_bundle(tmp_path / "empty")
