"""Frames from your own loop (here: a video read with OpenCV), switching the operating point on the way:
python examples/own_loop.py BUNDLE VIDEO [OUT.png]"""

import sys

import cv2

import edgeseg

bundle, video = sys.argv[1], sys.argv[2]
out = sys.argv[3] if len(sys.argv) > 3 else "overlay.png"
cap = cv2.VideoCapture(video)
with edgeseg.Segmenter(bundle, profile="evs07") as seg:
    n = 0
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        result = seg(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))  # labels: HxW class ids; keyframe: segmented or propagated
        n += 1
        if n == 20:
            seg.set_profile("evs14")  # faster from here on; the next frame is a keyframe
    if n:
        cv2.imwrite(out, cv2.cvtColor(result.overlay(), cv2.COLOR_RGB2BGR))
        print(f"{n} frames; last: keyframe={result.keyframe}, classes {sorted(set(result.labels.flat))}; overlay in {out}")
        print(seg.stats())
