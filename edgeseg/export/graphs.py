"""What gets exported: one spec per graph, and real-frame feeds for each (parity, calibration).

Feeds are built from real frames exactly as the runtime will build the graphs' inputs: the torch
backbone's outputs, DIS backward flow between consecutive frames, nearest-neighbour propagation
(``edgeseg.runtime.motion.reference``) and the runtime's preprocessing at each map's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np
import torch

from edgeseg.bundle import graph_key
from edgeseg.runtime import fusion
from edgeseg.runtime.engines.preprocess import preprocess
from edgeseg.runtime.fusion import refiner
from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.motion.reference import warp_nearest
from edgeseg.runtime.operating_point import DOWNSCALES


@dataclass
class GraphSpec:
    key: str  # manifest key: backbone, backbone@0.5, refiner, ...
    name: str  # architecture role
    module: torch.nn.Module
    input_names: list[str]
    output_names: list[str]
    downscale: float = 1.0


def scaled_size(size: tuple[int, int], downscale: float) -> tuple[int, int]:
    return int(round(size[0] * downscale)), int(round(size[1] * downscale))


def graph_specs(backbone: torch.nn.Module, heads: dict[str, torch.nn.Module],
                downscales: Iterable[float] = DOWNSCALES) -> list[GraphSpec]:
    """The backbone at each downscale, then each head with the I/O names its registered spec declares."""
    specs = [GraphSpec(graph_key("backbone", d), "backbone", backbone, ["image"], ["logits", "feats"], d)
             for d in downscales]
    for name, module in heads.items():
        head = fusion.get(name)
        specs.append(GraphSpec(name, name, module, head.input_names(module), list(head.outputs)))
    return specs


# rgb frame -> (1 x L x h/4 x w/4 scores, 1 x C x h/8 x w/8 features or None): what the heads' feeds are built from
BackboneOutputs = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray | None]]


def torch_outputs(backbone: torch.nn.Module, ckpt: dict[str, Any]) -> BackboneOutputs:
    """An edgeseg torch backbone as ``BackboneOutputs``, on the checkpoint's preprocessing."""
    size, mean, std = tuple(ckpt["input_size"]), tuple(ckpt["mean"]), tuple(ckpt["std"])

    @torch.no_grad()
    def run(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        logits, feats = backbone(torch.from_numpy(preprocess(rgb, size, mean, std)))
        return logits.numpy(), feats.numpy()
    return run


def _recorder(into: list[dict[str, np.ndarray]]) -> fusion.Run:
    """A ``run`` for a fusion spec that keeps each feed and runs nothing."""
    def run(feed: dict[str, np.ndarray]) -> None:
        into.append(feed)
    return run


def real_feeds(specs: list[GraphSpec], backbone: BackboneOutputs, ckpt: dict[str, Any],
               frames: Iterable[np.ndarray]) -> dict[str, list[dict[str, np.ndarray]]]:
    """For each spec, a list of input feeds computed from consecutive real frames.

    Fusion heads build their feeds with their runtime spec (``step``) from the backbone's outputs (torch, or a
    bundle's graph run by ONNX Runtime); no head graph runs here, so a recurrent head's state is its unfused input
    (as on the first frame). ``ckpt``: input_size, mean, std.
    """
    size = tuple(ckpt["input_size"])
    mean, std = tuple(ckpt["mean"]), tuple(ckpt["std"])
    feeds: dict[str, list[dict[str, np.ndarray]]] = {s.key: [] for s in specs}
    fusions = {s.key: (fusion.fusion(s.name), s.module) for s in specs if s.name in fusion.fusion_names()}
    states = {k: head.new_state(head.module_window(module)) for k, (head, module) in fusions.items()}
    dis = FlowEstimator()
    refiner_inputs = next((s.input_names for s in specs if s.key == "refiner"), [])
    prev: dict[str, Any] | None = None
    for rgb in frames:
        image = preprocess(rgb, size, mean, std)
        for s in specs:
            if s.name == "backbone":
                feeds[s.key].append({"image": image if s.downscale == 1.0 else
                                     preprocess(rgb, scaled_size(size, s.downscale), mean, std)})
        logits, feats = backbone(rgb)
        cur = {"gray": to_gray(rgb), "logits": logits, "feats": feats}
        flow = dis.backward(cur["gray"], prev["gray"]) if prev is not None else None
        if flow is not None and prev is not None and "refiner" in feeds:
            probs = torch.softmax(torch.from_numpy(prev["logits"]), 1).numpy()
            warped_feats = warp_nearest(prev["feats"][0], flow) if "warped_feats" in refiner_inputs else None
            feeds["refiner"].append(refiner.feed(image, warped_feats, warp_nearest(probs[0], flow)))
        frame = fusion.FusionFrame(rgb, logits, feats, flow, mean, std)
        for key, (head, _) in fusions.items():
            head.step(states[key], frame, _recorder(feeds[key]))
        prev = cur
    return feeds
