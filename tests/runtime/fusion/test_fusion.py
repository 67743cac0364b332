"""Heads are plug-ins: a head registered here, in the test only (a torch module + a spec), goes through export
(graph, parity gate, manifest) and runs in the pipeline under a profile that names it, with no edgeseg file
touched. Also: every built-in head's spec matches the graph that export writes for it."""

from __future__ import annotations

import shutil
from dataclasses import dataclass

import numpy as np
import pytest

from edgeseg.runtime import fusion
from edgeseg.runtime.fusion import FusionFrame, FusionSpec, Run

torch = pytest.importorskip("torch")


class Ema(torch.nn.Module):
    """A toy fusion: this frame's logits mixed with the previous fused logits, one learnable weight."""

    def __init__(self, num_classes: int = 11):
        super().__init__()
        self.a = torch.nn.Parameter(torch.tensor(0.7))

    def forward(self, x, prev):
        return self.a * x + (1 - self.a) * prev


@dataclass
class EmaState:
    prev: np.ndarray | None = None


@dataclass(frozen=True)
class EmaSpec(FusionSpec):
    def new_state(self, window: int) -> EmaState:
        return EmaState()

    def step(self, state: EmaState, frame: FusionFrame, run: Run) -> np.ndarray:
        out = run({"x": frame.logits, "prev": state.prev}) if state.prev is not None else None
        state.prev = frame.logits if out is None else out["fused"]
        return state.prev[0]


@pytest.fixture
def ema_head():
    from edgeseg.models.registry import MODELS, register_model
    register_model("ema")(Ema)
    fusion.register_head(EmaSpec("ema", inputs=("x", "prev"), outputs=("fused",), needs_back_flow=False))
    try:
        yield
    finally:
        MODELS.pop("ema")
        fusion.HEADS.pop("ema")


def test_a_head_registered_outside_edgeseg_exports_and_runs(ema_head, tiny_root, tmp_path):
    from edgeseg.bundle import load_bundle
    from edgeseg.data.folders import list_images, read_rgb
    from edgeseg.export.bundle import export_bundle
    from edgeseg.models.checkpoint import read_checkpoint, save_checkpoint
    from edgeseg.profiles import parse_profile
    from edgeseg.runtime.engines.postprocess import upsample_argmax
    from edgeseg.runtime.engines.segment import BundleSegmenter
    from edgeseg.runtime.pipeline.core import Pipeline
    from tests.conftest import tiny_options

    root = tmp_path / "set"
    shutil.copytree(tiny_root, root)
    meta = read_checkpoint(root / "model" / "backbone.pt")
    save_checkpoint(root / "model" / "ema.pt", Ema(), "ema", {"num_classes": 11}, meta)
    bundle = load_bundle(export_bundle(tiny_options(root, "bundle", heads=("ema",))))
    assert [i.name for i in bundle.graphs["ema"].inputs] == ["x", "prev"]
    assert "ema" in bundle.manifest.source["heads"]

    op = parse_profile({"name": "ema-point", "fusion": "ema"}, "<test>")
    frames = [read_rgb(p) for p in list_images(root / "frames")]
    with Pipeline(bundle, op) as pipe:
        outs = [pipe.process(f) for f in frames]
    # the same fusion by hand: the backbone's logits, mixed with a = 0.7 (float32, as in the graph)
    backbone, a = BundleSegmenter(bundle), np.float32(0.7)
    prev = None
    for out, rgb in zip(outs, frames):
        logits = backbone.engine.infer(backbone.net.feed(rgb))["logits"][0]
        prev = logits if prev is None else a * logits + (np.float32(1) - a) * prev
        assert out.keyframe
        np.testing.assert_array_equal(out.labels, upsample_argmax(prev, rgb.shape[:2]))


def test_a_profile_naming_an_unregistered_fusion_is_refused():
    from edgeseg.profiles import ProfileError, parse_profile
    with pytest.raises(ProfileError, match="fusion"):
        parse_profile({"name": "x", "fusion": "ema"}, "<test>")


def test_built_in_specs_match_their_exported_graphs(tiny_set):
    from edgeseg.bundle import load_bundle
    bundle = load_bundle(tiny_set[1])
    for name, spec in fusion.HEADS.items():
        entry = bundle.graphs[name]
        assert tuple(i.name for i in entry.inputs) == spec.inputs
        assert tuple(o.name for o in entry.outputs) == spec.outputs
