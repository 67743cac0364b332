"""Models edgeseg did not build: ONNX files in other frameworks' forms and PyTorch import specs, exported,
gated, run under propagation operating points, evaluated, and reproduced from the manifest alone."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import pytest
import torch
import torch.nn.functional as F

from edgeseg.bundle import load_bundle
from edgeseg.cli.main import main
from edgeseg.data.evaluate import evaluate_folder
from edgeseg.data.folders import list_images, read_rgb
from edgeseg.export.bundle import ExportOptions, ForeignOptions, export_bundle
from edgeseg.profiles import load_profile
from edgeseg.runtime.engines.device_chain import GraphKeyframes
from edgeseg.runtime.engines.network_io import NetworkIO
from edgeseg.runtime.engines.registry import open_engine
from edgeseg.runtime.engines.segment import BundleSegmenter
from edgeseg.runtime.pipeline.core import Pipeline
from tests.export.foreign_models import BgrRawNet, LabelsNet, NhwcNet, import_torchvision, to_onnx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
NO_KWARGS = '{"num_classes": 11, "weights": null, "weights_backbone": null}'


def options(root: Path, model: str, out: Path, **kw) -> ExportOptions:
    """Export options for a foreign model; keywords naming a ForeignOptions field go there."""
    foreign = {k: kw.pop(k) for k in list(kw) if k in ForeignOptions.__dataclass_fields__}
    foreign.setdefault("classes", "camvid")
    return ExportOptions(model=model, out=str(out), calib=str(root / "frames"), parity_frames=4, calib_frames=4, progress=False,
                         miou_images=str(root / "frames"), miou_labels=str(root / "labels"), foreign=ForeignOptions(**foreign), **kw)


def framework_miou(root: Path, predict) -> float:
    """mIoU the way the model's own framework gets it: its scores upsampled by torch, argmax (tiny set, CamVid classes)."""
    from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE
    return evaluate_folder(predict, root / "frames", root / "labels", CAMVID_CLASSES, CAMVID_IGNORE, progress=False)["miou"]


def torch_predict(module: torch.nn.Module, pick):
    def predict(rgb: np.ndarray) -> np.ndarray:
        x = (torch.from_numpy(rgb).float() / 255 - torch.tensor([0.485, 0.456, 0.406])) / torch.tensor([0.229, 0.224, 0.225])
        with torch.no_grad():
            scores = pick(module(x.permute(2, 0, 1)[None]))
        scores = F.interpolate(scores, size=rgb.shape[:2], mode="bilinear", align_corners=False)
        return scores.argmax(1)[0].numpy().astype(np.uint8)
    return predict


def third_party(bundle: Path, image: Path, tmp: Path) -> np.ndarray:
    out = tmp / f"tp_{bundle.name}.png"
    r = subprocess.run([sys.executable, str(EXAMPLES / "third_party_runner.py"), str(bundle), str(image), str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return cv2.imread(str(out), cv2.IMREAD_UNCHANGED)


def run_point(bundle: Path, profile: str, frames: list[np.ndarray]) -> list:
    with Pipeline(load_bundle(bundle), load_profile(profile)) as pipe:
        return [pipe.process(f) for f in frames]


@pytest.mark.parametrize("factory", ["lraspp_mobilenet_v3_large", "deeplabv3_mobilenet_v3_large"])
def test_torchvision_models_export_by_import_spec_and_evaluate_as_torchvision_does(tiny_root, tmp_path, factory):
    tv = import_torchvision()
    torch.manual_seed(0)
    model = getattr(tv.models.segmentation, factory)(**json.loads(NO_KWARGS)).eval()
    torch.save(model.state_dict(), tmp_path / "w.pt")
    out = export_bundle(options(tiny_root, f"torchvision.models.segmentation:{factory}", tmp_path / "b", size=(64, 96),
                                kwargs=NO_KWARGS, weights=str(tmp_path / "w.pt")))
    bundle = load_bundle(out)
    assert bundle.manifest.output.name == "scores" and bundle.manifest.output.stride == 1  # dict output "out", full size
    # a module exports at every downscale; NCHW scores get a keyframe's pre/post graphs
    assert set(bundle.graphs) == {"backbone", "backbone@0.5", "pre", "pre@0.5", "post"}
    parity = json.loads((out / "parity.json").read_text())
    assert parity["backbone"]["pixel_agreement"] == 100.0
    ours = evaluate_folder(BundleSegmenter(bundle), tiny_root / "frames", tiny_root / "labels",
                           bundle.manifest.classes.names, bundle.manifest.classes.ignore_id, progress=False)["miou"]
    assert abs(ours - framework_miou(tiny_root, torch_predict(model, lambda o: o["out"]))) <= 0.15


def test_smp_unet_and_segformer_import_specs(tiny_root, tmp_path):
    import_torchvision()  # timm, under segmentation_models_pytorch, imports torchvision
    import segmentation_models_pytorch as smp
    torch.manual_seed(0)
    unet = smp.Unet(encoder_name="resnet18", encoder_weights=None, classes=11).eval()
    torch.save({"state_dict": unet.state_dict()}, tmp_path / "unet.pt")  # a checkpoint holding the state_dict
    out = export_bundle(options(tiny_root, "segmentation_models_pytorch:Unet", tmp_path / "unet", size=(64, 96),
                                kwargs='{"encoder_name": "resnet18", "encoder_weights": null, "classes": 11}',
                                weights=str(tmp_path / "unet.pt"), downscales=(1.0,)))
    bundle = load_bundle(out)
    assert bundle.manifest.output.stride == 1
    assert abs(evaluate_folder(BundleSegmenter(bundle), tiny_root / "frames", tiny_root / "labels", bundle.manifest.classes.names,
                               11, progress=False)["miou"] - framework_miou(tiny_root, torch_predict(unet, lambda o: o))) <= 0.15

    from tests.export.foreign_models import tiny_segformer
    segformer = tiny_segformer().eval()
    out = export_bundle(options(tiny_root, "tests.export.foreign_models:tiny_segformer", tmp_path / "segformer", size=(64, 96)))
    bundle = load_bundle(out)
    assert (bundle.manifest.output.kind, bundle.manifest.output.stride) == ("scores", 4)  # Hugging Face .logits at 1/4
    ours = evaluate_folder(BundleSegmenter(bundle), tiny_root / "frames", tiny_root / "labels", bundle.manifest.classes.names,
                           11, progress=False)["miou"]
    assert abs(ours - framework_miou(tiny_root, torch_predict(segformer, lambda o: o.logits))) <= 0.15


def test_an_nhwc_onnx_with_a_dynamic_size_runs_every_downscale_and_propagation(tiny_root, tmp_path):
    onnx_file = to_onnx(NhwcNet(), torch.zeros(1, 64, 96, 3), tmp_path / "nhwc.onnx", ["scores"], dynamic=True)
    out = export_bundle(options(tiny_root, str(onnx_file), tmp_path / "b", size=(64, 96)))
    m = load_bundle(out).manifest
    assert (m.input.layout, m.input.name, m.output.layout, m.output.stride) == ("NHWC", "input", "NHWC", 2)
    assert set(m.graphs) == {"backbone", "backbone@0.5"}  # no pre/post graphs for NHWC models
    frames = [read_rgb(p) for p in list_images(tiny_root / "frames")]
    outs = run_point(out, "evs14", frames)  # D=0.5, S=17, warp
    assert [o.keyframe for o in outs] == [True] + [False] * (len(frames) - 1) and all(o.warped for o in outs[1:])
    image = list_images(tiny_root / "frames")[0]
    assert (BundleSegmenter(load_bundle(out))(read_rgb(image)) == third_party(out, image, tmp_path)).mean() == 1.0


def test_a_bgr_raw_pixel_onnx_with_scores_at_stride_8_as_its_second_output(tiny_root, tmp_path):
    onnx_file = to_onnx(BgrRawNet(), torch.zeros(1, 3, 64, 96), tmp_path / "bgr.onnx", ["aux", "seg"])
    raw = dict(channels="bgr", scale=1.0, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))
    out = export_bundle(options(tiny_root, str(onnx_file), tmp_path / "b", output="1", **raw))
    bundle = load_bundle(out)
    assert (bundle.manifest.output.name, bundle.manifest.output.stride, bundle.manifest.input.scale) == ("seg", 8, 1.0)
    assert set(bundle.graphs) == {"backbone", "pre", "post"}  # fixed at 64x96: no other downscale can be made
    chain = GraphKeyframes(*(open_engine(bundle, k) for k in ("backbone", "pre", "post")))
    io = NetworkIO(bundle, "backbone")
    for rgb in [read_rgb(p) for p in list_images(tiny_root / "frames")][:3]:  # BGR, raw pixels, stride 8, on the chain
        assert np.mean(io.keyframe(chain, rgb).frame_labels == io.keyframe(open_engine(bundle, "backbone"), rgb).frame_labels) >= 0.99
    assert [o.name for o in bundle.graphs["backbone"].outputs] == ["seg"]  # only what the runtime needs
    image = list_images(tiny_root / "frames")[0]
    rgb = read_rgb(image)
    # the original graph, fed by hand: BGR, 0..255, NCHW; scores upsampled bilinearly
    session = ort.InferenceSession(str(onnx_file), providers=["CPUExecutionProvider"])
    seg = session.run(["seg"], {"input": np.ascontiguousarray(rgb[..., ::-1].transpose(2, 0, 1)[None], np.float32)})[0][0]
    by_hand = np.stack([cv2.resize(c, (96, 64), interpolation=cv2.INTER_LINEAR) for c in seg]).argmax(0)
    ours = BundleSegmenter(bundle)(rgb)
    assert (ours == by_hand).mean() == 1.0
    assert (ours == third_party(out, image, tmp_path)).mean() == 1.0
    for precision in ("fp16", "int8"):  # the reduced precisions are gated against the original file
        reduced = export_bundle(options(tiny_root, str(onnx_file), tmp_path / precision, output="seg", precision=precision, **raw))
        parity = json.loads((reduced / "parity.json").read_text())["backbone"]
        assert parity["passed"] and parity["precision"] == precision


def test_a_labels_only_model_runs_the_warp_points_and_names_what_the_others_lack(tiny_root, tmp_path, capsys):
    onnx_file = to_onnx(LabelsNet(), torch.zeros(1, 3, 64, 96), tmp_path / "labels.onnx", ["labels"])
    out = export_bundle(options(tiny_root, str(onnx_file), tmp_path / "b"))
    bundle = load_bundle(out)
    assert (bundle.manifest.output.kind, bundle.manifest.output.stride) == ("labels", 4)
    frames = [read_rgb(p) for p in list_images(tiny_root / "frames")][:6]
    outs = run_point(out, "evs07", frames)
    assert outs[0].keyframe and outs[1].warped
    image = list_images(tiny_root / "frames")[0]
    assert (outs[0].labels == third_party(out, image, tmp_path)).mean() == 1.0
    assert all(o.keyframe for o in run_point(out, "evs01", frames))  # S=1: "R" never applies, no refiner needed
    rc = main(["run", "--bundle", str(out), "--profile", "evs06", "--source", str(tiny_root / "frames")])
    err = capsys.readouterr().err
    assert rc == 2 and "refiner" in err and len(err.strip().splitlines()) == 1
    rc = main(["profile", "--bundle", str(out), "--source", str(tiny_root / "frames"), "--labels", str(tiny_root / "labels"),
               "--profiles", "evs01,evs06,evs07", "--json", str(tmp_path / "p.json"), "--no-progress"])
    rows = {r["profile"]: r for r in json.loads((tmp_path / "p.json").read_text())["rows"]}
    assert rc == 1  # a point did not run (documented: profile exits 1 unless every row is ok)
    assert rows["evs01"]["status"] == rows["evs07"]["status"] == "ok" and rows["evs06"]["status"] == "export_failed"
    assert rows["evs07"]["miou"] is not None and rows["evs07"]["speedup"] is not None


def _fails(argv: list[str], out: Path, capsys, *expected: str) -> None:
    rc = main(["export", *argv, "--out", str(out), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1, err
    for text in expected:
        assert text in err, err
    assert not out.exists() and not list(out.parent.glob(f".{out.name}.*"))  # no bundle, nothing half-written


def test_bad_foreign_input_is_one_line_exit_2_and_leaves_nothing(tiny_root, tmp_path, capsys):
    calib = ["--calib", str(tiny_root / "frames"), "--parity-frames", "2"]
    nhwc = str(to_onnx(NhwcNet(), torch.zeros(1, 64, 96, 3), tmp_path / "nhwc.onnx", ["scores"], dynamic=True))
    bgr = str(to_onnx(BgrRawNet(), torch.zeros(1, 3, 64, 96), tmp_path / "bgr.onnx", ["aux", "seg"]))
    out = tmp_path / "b"
    _fails([nhwc, "--classes", "camvid", *calib], out, capsys, "dynamic", "--size")
    (tmp_path / "five.txt").write_text("a\nb\nc\nd\ne\n")
    _fails([nhwc, "--classes", str(tmp_path / "five.txt"), "--size", "64x96", *calib], out, capsys, "11", "5")
    _fails([bgr, "--classes", "camvid", *calib], out, capsys, "aux", "seg", "--output")
    (tmp_path / "bad.txt").write_text("sky 1 2 3\n# comment\nroad 1 2\n")
    _fails([bgr, "--classes", str(tmp_path / "bad.txt"), *calib], out, capsys, "bad.txt:3")
    _fails([bgr, "--classes", "camvid", "--std", "1,0,1", *calib], out, capsys, "--std")
    _fails(["no_such_module_xyz:make", "--classes", "camvid", "--size", "64x96", *calib], out, capsys, "does not import")
    _fails(["tests.export.foreign_models:tiny_segformer", "--kwargs", '{"colour": 3}', "--classes", "camvid", "--size", "64x96",
            *calib], out, capsys, "factory raised")
    torch.save({"nothing": torch.zeros(1)}, tmp_path / "w.pt")
    _fails(["tests.export.foreign_models:tiny_segformer", "--weights", str(tmp_path / "w.pt"), "--classes", "camvid", "--size",
            "64x96", *calib], out, capsys, "do not fit")
    _fails([bgr, "--classes", "camvid", "--mean", "1,2", *calib], out, capsys, "--mean", "three")


def test_resize_linear_is_stated_in_the_manifest_and_reproduced_from_it(tiny_root, tmp_path):
    from edgeseg.runtime.engines.preprocess import prepare
    onnx_file = to_onnx(NhwcNet(), torch.zeros(1, 64, 96, 3), tmp_path / "nhwc.onnx", ["scores"], dynamic=True)
    out = export_bundle(options(tiny_root, str(onnx_file), tmp_path / "b", size=(32, 48), resize="linear", downscales=(1.0,)))
    m = load_bundle(out).manifest
    assert m.input.resize == "cv2:linear"
    image = list_images(tiny_root / "frames")[0]
    rgb = read_rgb(image)
    x = prepare(rgb, m.input, (32, 48))
    small = cv2.resize(rgb, (48, 32), interpolation=cv2.INTER_LINEAR).astype(np.float32)
    by_hand = (small / 255 - np.float32(m.input.mean)) / np.float32(m.input.std)
    np.testing.assert_allclose(x[0], by_hand, rtol=0, atol=1e-6)  # NHWC, bilinear while shrinking
    assert (BundleSegmenter(load_bundle(out))(rgb) == third_party(out, image, tmp_path)).mean() == 1.0


def test_an_import_spec_in_the_current_folder_imports_and_outputs_upsampled_inside_get_static_shapes(tiny_root, tmp_path,
                                                                                                        monkeypatch):
    (tmp_path / "my_local_models.py").write_text(
        "import torch\n"
        "def build(num_classes=11):\n"
        "    torch.manual_seed(0)\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(3, num_classes, 3, stride=4, padding=1),\n"
        "                               torch.nn.Upsample(scale_factor=4, mode='bilinear'))\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    out = export_bundle(options(tiny_root, "my_local_models:build", tmp_path / "b", size=(64, 96), downscales=(1.0,)))
    assert load_bundle(out).graphs["backbone"].outputs[0].shape == [1, 11, 64, 96]
    up = to_onnx(torch.nn.Sequential(torch.nn.Conv2d(3, 11, 3, stride=4, padding=1), torch.nn.Upsample(scale_factor=4, mode="bilinear")),
                 torch.zeros(1, 3, 64, 96), tmp_path / "up.onnx", ["scores"], dynamic=True)
    out = export_bundle(options(tiny_root, str(up), tmp_path / "c", size=(64, 96), downscales=(1.0, 0.5)))
    graphs = load_bundle(out).graphs
    assert graphs["backbone"].outputs[0].shape == [1, 11, 64, 96] and graphs["backbone@0.5"].outputs[0].shape == [1, 11, 32, 48]
