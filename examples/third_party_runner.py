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
rgb = bgr[..., ::-1] if inp["channels"] == "rgb" else bgr
h, w = inp["size"]
shrink = h < rgb.shape[0]  # resize "cv2:area-down,linear-up"
x = cv2.resize(np.ascontiguousarray(rgb), (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
x = (x.astype(np.float32) / inp["scale"] - np.float32(inp["mean"])) / np.float32(inp["std"])
x = x.transpose(2, 0, 1)[None] if inp["layout"] == "NCHW" else x[None]
session = ort.InferenceSession(f"{bundle}/{m['graphs']['backbone']['file']}", providers=["CPUExecutionProvider"])
scores = session.run([outp["name"]], {session.get_inputs()[0].name: np.ascontiguousarray(x)})[0][0]
up = np.stack([cv2.resize(c, (bgr.shape[1], bgr.shape[0]), interpolation=cv2.INTER_LINEAR) for c in scores])  # bilinear, half-pixel
cv2.imwrite(out, up.argmax(0).astype(np.uint8))
