"""Train torchvision's LR-ASPP MobileNetV3-Large on CamVid train from scratch with a plain PyTorch loop (not
``edgeseg train``): the foreign model issue 12's Table 2 rows are measured on. No pretrained weights (nothing
can be downloaded here). Resumable: a cut-off run goes on from its last epoch.

    python benchmarks/train_lraspp.py --minutes 60      # -> benchmarks/runs/lraspp/{lraspp.pt, lraspp.onnx, framework.json}

At the end the model is exported by torch itself (dynamic H and W, so edgeseg can make its D=0.5 graph) and its
mIoU measured the framework's way (torch preprocessing, argmax of the full-size ``out``) on CamVid val and test:
the numbers ``edgeseg eval`` of the exported bundle must match.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks._report import DATA  # noqa: E402
from edgeseg.data.classes import CAMVID_CLASSES, CAMVID_IGNORE  # noqa: E402
from edgeseg.data.evaluate import evaluate_folder  # noqa: E402
from edgeseg.data.folders import FolderDataset  # noqa: E402
from edgeseg.train.augment import augment, class_weights  # noqa: E402
from tests.export.foreign_models import import_torchvision  # noqa: E402  (PyPI's torchvision next to CPU torch)

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
KWARGS = {"num_classes": 11, "weights": None, "weights_backbone": None}


def to_tensor(images: list[np.ndarray]) -> torch.Tensor:
    x = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float() / 255
    return (x - MEAN) / STD


def framework_predict(model: torch.nn.Module):
    @torch.no_grad()
    def predict(rgb: np.ndarray) -> np.ndarray:
        out = model(to_tensor([rgb]))["out"]
        out = F.interpolate(out, size=rgb.shape[:2], mode="bilinear", align_corners=False)
        return out.argmax(1)[0].numpy().astype(np.uint8)
    return predict


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "runs" / "lraspp"))
    ap.add_argument("--minutes", type=float, default=60, help="training time budget (default: %(default)s)")
    ap.add_argument("--epochs", type=int, default=60, help="epochs of the cosine schedule (default: %(default)s)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", default="288x384")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tv = import_torchvision()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    model = tv.models.segmentation.lraspp_mobilenet_v3_large(**KWARGS)
    images, labels = FolderDataset(DATA / "camvid" / "train", DATA / "camvid" / "trainannot").load_all()
    weight = torch.from_numpy(class_weights(labels, 11)).float()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = len(images) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps, pct_start=0.05)
    start = 0
    last = out / "last.pt"
    if last.is_file():
        state = torch.load(last, weights_only=False)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        sched.load_state_dict(state["sched"])
        rng.bit_generator.state = state["rng"]
        start = state["epoch"]
        print(f"resuming after epoch {start}")
    crop = tuple(int(v) for v in args.crop.split("x"))
    t0 = time.time()
    for epoch in range(start, args.epochs):
        model.train()
        order = rng.permutation(len(images))
        total = 0.0
        for s in range(steps):
            batch = [augment(images[i], labels[i], rng, crop, (0.6, 1.4), CAMVID_IGNORE) for i in order[s * args.batch:(s + 1) * args.batch]]
            x = to_tensor([b[0] for b in batch])
            y = torch.from_numpy(np.stack([b[1] for b in batch]).astype(np.int64))
            loss = F.cross_entropy(model(x)["out"], y, weight=weight, ignore_index=CAMVID_IGNORE)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss)
        elapsed = (time.time() - t0) / 60
        print(f"epoch {epoch + 1}/{args.epochs} loss {total / steps:.3f} ({elapsed:.1f} min)", flush=True)
        tmp = out / "last.pt.tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(), "rng": rng.bit_generator.state,
                    "epoch": epoch + 1}, tmp)
        tmp.replace(last)
        if elapsed > args.minutes:
            print(f"time budget of {args.minutes} min reached after epoch {epoch + 1}")
            break
    model.eval()
    torch.save(model.state_dict(), out / "lraspp.pt")
    example = (torch.zeros(1, 3, 360, 480),)
    torch.onnx.export(model, example, str(out / "lraspp.onnx"), input_names=["input"], output_names=["out"], opset_version=18,
                      dynamo=False, dynamic_axes={"input": {2: "height", 3: "width"}})
    result = {"epochs": int(torch.load(last, weights_only=False)["epoch"]), "kwargs": KWARGS}
    for split in ("val", "test"):
        r = evaluate_folder(framework_predict(model), DATA / "camvid" / split, DATA / "camvid" / f"{split}annot", CAMVID_CLASSES,
                            CAMVID_IGNORE, progress=False)
        result[f"miou_{split}"] = r["miou"]
        print(f"framework mIoU on CamVid {split}: {r['miou']:.2f}%")
    (out / "framework.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
