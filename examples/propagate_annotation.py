"""Carry one annotated label map to the following frames (an annotation tool's propagation; no network):
python examples/propagate_annotation.py LABELS.png FIRST.png NEXT1.png [NEXT2.png ...] --out DIR"""

import argparse
from pathlib import Path

import cv2

import edgeseg

ap = argparse.ArgumentParser()
ap.add_argument("labels")
ap.add_argument("frames", nargs="+", help="the annotated frame, then the frames to carry the labels to")
ap.add_argument("--out", default="propagated")
args = ap.parse_args()
labels = cv2.imread(args.labels, cv2.IMREAD_UNCHANGED)  # class ids, uint8
first, *rest = (cv2.cvtColor(cv2.imread(f), cv2.COLOR_BGR2RGB) for f in args.frames)
Path(args.out).mkdir(exist_ok=True)
for name, carried in zip(args.frames[1:], edgeseg.Propagator().propagate(labels, first, rest)):
    cv2.imwrite(str(Path(args.out) / Path(name).name), carried)
print(f"{len(args.frames) - 1} label maps written to {args.out}")
