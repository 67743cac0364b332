"""Reproduce edgeseg's per-frame labels with onnxruntime + numpy + OpenCV and the bundle's manifest only:
python examples/third_party_runner.py BUNDLE IMAGE OUT.png"""

import json
import sys

import cv2
import numpy as np
import onnxruntime as ort

bundle, image, out = sys.argv[1:4]
m = json.load(open(f"{bundle}/manifest.json"))
inp, outp = m["input"], m["output"]  # format 2: the whole pre- and post-processing
bgr = cv2.imread(image)
h, w = inp["size"]
shrink = h < bgr.shape[0] and inp.get("resize") != "cv2:linear"  # "cv2:area-down,linear-up", on the RGB frame
rgb = cv2.resize(np.ascontiguousarray(bgr[..., ::-1]), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
x = rgb[..., ::-1] if inp.get("channels", "rgb") == "bgr" else rgb
if inp.get("dtype", "float32") == "float32":  # a uint8 input takes the pixels as they are
    x = (x.astype(np.float32) / np.float32(inp["scale"]) - np.float32(inp["mean"])) / np.float32(inp["std"])
x = x.transpose(2, 0, 1)[None] if inp["layout"] == "NCHW" else x[None]
session = ort.InferenceSession(f"{bundle}/{m['graphs']['backbone']['file']}", providers=["CPUExecutionProvider"])
y = session.run([outp["name"]], {inp.get("name", "image"): np.ascontiguousarray(x)})[0]
if outp["kind"] == "labels":  # "nearest-cv2"
    labels = cv2.resize(np.squeeze(y).astype(np.uint8), (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_NEAREST)
else:  # "bilinear-half-pixel" on the scores, then the first maximal class
    scores = y[0] if outp.get("layout", "NCHW") == "NCHW" else y[0].transpose(2, 0, 1)
    labels = np.stack([cv2.resize(c, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR) for c in scores]).argmax(0)
cv2.imwrite(out, labels.astype(np.uint8))
