"""What gets exported: one spec per graph, and real-frame feeds for each (parity, calibration).

Feeds are built from real frames exactly as the runtime will build the graphs' inputs: the torch
backbone's outputs, DIS backward flow between consecutive frames, nearest-neighbour propagation
(``edgeseg.runtime.reference``) and the runtime's preprocessing at each map's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
import torch

from edgeseg.runtime.bundle import graph_key
from edgeseg.runtime.flow import FlowEstimator, flow_nchw, resize_flow, to_gray
from edgeseg.runtime.preprocess import preprocess
from edgeseg.runtime.reference import warp_nearest

HEAD_INPUTS = {
    "refiner": (["image", "warped_feats", "warped_probs"], ["logits"]),
    "stgru": (["x", "h_prev", "image", "image_prev", "flow"], ["h"]),
    "netwarp": (["feats", "feats_prev", "image", "image_prev", "flow"], ["logits"]),
    "gcrf": (["unaries", "images"], ["logits"]),
}
DOWNSCALES = (1.0, 0.5)


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
    specs = [GraphSpec(graph_key("backbone", d), "backbone", backbone, ["image"], ["logits", "feats"], d)
             for d in downscales]
    for name, module in heads.items():
        ins, outs = HEAD_INPUTS[name]
        specs.append(GraphSpec(name, name, module, list(ins), list(outs)))
    return specs


@torch.no_grad()
def real_feeds(specs: list[GraphSpec], backbone: torch.nn.Module, ckpt: dict[str, Any],
               frames: Iterable[np.ndarray]) -> dict[str, list[dict[str, np.ndarray]]]:
    """For each spec, a list of input feeds computed from consecutive real frames."""
    size = tuple(ckpt["input_size"])
    mean, std = ckpt["mean"], ckpt["std"]
    feeds: dict[str, list[dict[str, np.ndarray]]] = {s.key: [] for s in specs}
    keys = set(feeds)
    dis = FlowEstimator()
    gcrf = next((s.module for s in specs if s.name == "gcrf"), None)
    prev: dict[str, Any] | None = None
    window: list[tuple[np.ndarray, np.ndarray]] = []
    for rgb in frames:
        image = preprocess(rgb, size, mean, std)
        for s in specs:
            if s.name == "backbone":
                feeds[s.key].append({"image": image if s.downscale == 1.0 else
                                     preprocess(rgb, scaled_size(size, s.downscale), mean, std)})
        logits_t, feats_t = (t.numpy() for t in backbone(torch.from_numpy(image)))
        q, e = logits_t.shape[-2:], feats_t.shape[-2:]
        cur = {"gray": to_gray(rgb), "logits": logits_t, "feats": feats_t,
               "img4": preprocess(rgb, q, mean, std), "img8": preprocess(rgb, e, mean, std)}
        if prev is not None:
            flow = dis.backward(cur["gray"], prev["gray"])
            if "refiner" in keys:
                probs = torch.softmax(torch.from_numpy(prev["logits"]), 1).numpy()
                feeds["refiner"].append({"image": image, "warped_feats": warp_nearest(prev["feats"][0], flow)[None],
                                         "warped_probs": warp_nearest(probs[0], flow)[None]})
            if "stgru" in keys:
                feeds["stgru"].append({"x": logits_t, "h_prev": prev["logits"], "image": cur["img4"],
                                       "image_prev": prev["img4"], "flow": flow_nchw(resize_flow(flow, q))})
            if "netwarp" in keys:
                feeds["netwarp"].append({"feats": feats_t, "feats_prev": prev["feats"], "image": cur["img8"],
                                         "image_prev": prev["img8"], "flow": flow_nchw(resize_flow(flow, e))})
        if gcrf is not None:
            window = (window + [(logits_t[0], cur["img4"][0])])[-gcrf.frames:]
            if len(window) == gcrf.frames:
                feeds["gcrf"].append({"unaries": np.stack([w[0] for w in window]),
                                      "images": np.stack([w[1] for w in window])})
        prev = cur
    return feeds

