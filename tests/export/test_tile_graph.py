"""Refinement by tiles: the exported tile graph's cores equal the full-frame refiner's output, the pipeline gives
the same labels with tiles as without, and a context too small for the refiner is caught."""

import shutil

import numpy as np
import pytest
import torch

from edgeseg.bundle import load_bundle
from edgeseg.errors import EdgesegError, UsageError
from edgeseg.export.bundle import export_bundle
from edgeseg.export.tile_graph import every_tile, parse_tiles, tile_mismatch
from edgeseg.models import build_model
from edgeseg.models.checkpoint import load_checkpoint, save_checkpoint
from edgeseg.profiles import load_profile
from edgeseg.runtime.engines.registry import open_engine
from edgeseg.runtime.pipeline import tiles
from edgeseg.runtime.pipeline.core import Pipeline
from edgeseg.runtime.pipeline.refinement import Refinement, softmax
from tests.conftest import tiny_options

SIZE = (128, 192)  # the tiny model's frames enlarged, so that a tile leaves room for a core


@pytest.fixture(scope="module")
def tiled(tiny_root, tmp_path_factory):
    """The tiny checkpoint set with a compact refiner, exported at 128x192 with 64x64 tiles, 2 per run. Its
    backbone's classifier is scaled up so that its labels vary over the frame (and the IAM mask has something)."""
    root = tmp_path_factory.mktemp("tiles")
    shutil.copytree(tiny_root, root, dirs_exist_ok=True)
    backbone, meta = load_checkpoint(root / "model" / "backbone.pt")
    torch.manual_seed(1)
    with torch.no_grad():
        backbone.classifier.weight.mul_(200.0)
    save_checkpoint(root / "model" / "backbone.pt", backbone, "icnet", meta["config"],
                    {k: meta[k] for k in ("class_names", "palette", "ignore_id", "mean", "std", "input_size")})
    _, meta = load_checkpoint(root / "model" / "refiner.pt")
    cfg = {"num_classes": 11, "width": 0.25, "feat_channels": build_model("icnet", num_classes=11, width=0.25).feat_channels,
           "compact": True}
    save_checkpoint(root / "model" / "refiner.pt", build_model("refiner", **cfg), "refiner", cfg,
                    {k: meta[k] for k in ("class_names", "palette", "ignore_id", "mean", "std", "input_size")})
    out = export_bundle(tiny_options(root, "bundle", size=SIZE, heads=("refiner",), refiner_tiles="64x64x2",
                                     measure_miou=False))
    return root, out


def test_the_tile_graph_is_static_and_says_its_context(tiled):
    bundle = load_bundle(tiled[1])
    entry = bundle.graphs[tiles.GRAPH]
    assert entry.role == "refiner" and entry.tile_context == 24
    assert entry.shapes["image"] == (2, 3, 64, 64) and entry.shapes["warped_probs"] == (2, 11, 16, 16)
    grid = tiles.grid_of(bundle)
    assert grid is not None and grid.core == (16, 16) and grid.batch == 2


def test_tile_cores_equal_full_frame_refinement_in_onnx_runtime(tiled):
    bundle = load_bundle(tiled[1])
    grid = tiles.grid_of(bundle)
    full, tile = open_engine(bundle, "refiner"), open_engine(bundle, tiles.GRAPH)
    rng = np.random.default_rng(0)
    feed = {n: rng.standard_normal(s).astype(np.float32) for n, s in bundle.graphs["refiner"].shapes.items()}
    feed["warped_probs"] = softmax(feed["warped_probs"][0])[None]
    want = full.infer(feed)["logits"][0]
    got = np.full_like(want, np.nan)
    everywhere = every_tile(grid)
    for start in range(0, len(everywhere), grid.batch):
        picked = everywhere[start:start + grid.batch]
        tiles.paste(got, tile.infer(tiles.crop_feed(feed, picked, grid))["logits"][:len(picked)], picked)
    assert not np.isnan(got).any()  # the cores tile the whole output
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)


def test_the_pipeline_gives_the_same_labels_with_tiles(tiled):
    bundle = load_bundle(tiled[1])
    frames = [np.ascontiguousarray(f) for f in _frames(tiled[0])]
    runs, stats = {}, {}
    for budget in (0.0, float("inf")):
        with Pipeline(bundle, load_profile("evs06"), tile_budget=budget) as pipe:
            runs[budget] = [pipe.process(f) for f in frames]
            stats[budget] = pipe.stats.to_json()["refinement"]
    assert all(o.refined_tiles == 0 for o in runs[0.0])
    counted = runs[0.0][pipe.stats.warmup:]  # the run's statistics leave the warm-up frames out
    assert stats[0.0] == {"frames": sum(1 for o in counted if o.refined_pixels), "tiled_frames": 0, "tiles": 0}
    assert stats[float("inf")]["tiles"] == sum(o.refined_tiles for o in runs[float("inf")][pipe.stats.warmup:]) > 0
    tiled_frames = [o for o in runs[float("inf")] if o.refined_tiles]
    assert tiled_frames, "no frame was refined by tiles"
    for a, b in zip(runs[0.0], runs[float("inf")]):
        assert a.refined_pixels == b.refined_pixels
        np.testing.assert_array_equal(a.labels, b.labels)


def test_a_context_smaller_than_the_refiners_reach_is_caught():
    torch.manual_seed(0)
    module = build_model("refiner", num_classes=5, width=0.25, feat_channels=8).eval()  # context 40
    rng = np.random.default_rng(0)
    feed = {"image": rng.standard_normal((1, 3, 160, 160)).astype(np.float32),
            "warped_feats": rng.standard_normal((1, 8, 20, 20)).astype(np.float32),
            "warped_probs": rng.random((1, 5, 40, 40)).astype(np.float32)}
    assert tile_mismatch(module, feed, tiles.TileGrid((160, 160), (96, 96), module.context)) < 1e-5
    assert tile_mismatch(module, feed, tiles.TileGrid((160, 160), (96, 96), 24)) > 1e-3


@pytest.mark.parametrize("text", ["12x", "axb", "0x64", "64x64x0", "64"])
def test_bad_tile_sizes_are_one_line_errors(text):
    with pytest.raises(UsageError):
        parse_tiles(text)
    assert parse_tiles("none") == (0, 0, 0) and parse_tiles("auto") is None and parse_tiles("96x112") == (96, 112, 1)


def test_a_tile_that_does_not_fit_is_refused(tiny_root, tmp_path):
    with pytest.raises(EdgesegError, match="refiner-tiles"):
        export_bundle(tiny_options(tiny_root, "never", heads=("refiner",), refiner_tiles="96x96", measure_miou=False))
    assert not (tiny_root / "never").exists()


def _frames(root):
    import cv2
    return [cv2.cvtColor(cv2.imread(str(p)), cv2.COLOR_BGR2RGB) for p in sorted((root / "frames").glob("*.png"))]


def test_refinement_measures_where_tiles_pay_and_plans_by_it(tiled):
    bundle = load_bundle(tiled[1])
    grid = tiles.grid_of(bundle)
    full, tile = open_engine(bundle, "refiner"), open_engine(bundle, tiles.GRAPH)
    measured = Refinement(full, tile, grid)
    assert 0 < measured.budget < 100  # a share of the frame: tiles pay below it
    frame = np.zeros((100, 150), np.float32)
    assert measured.plan(frame) == []
    frame[40:44, 60:64] = 1.0
    always = Refinement(full, tile, grid, budget=float("inf"))
    assert 1 <= len(always.plan(frame)) <= 4
    assert Refinement(full, tile, grid, budget=0.0).plan(frame) == []
    assert Refinement(full, None, None).budget == 0.0  # a bundle without tiles: the full frame only
