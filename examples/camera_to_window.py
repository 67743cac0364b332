"""A camera (or any source URI) to a window, with the class legend: python examples/camera_to_window.py BUNDLE [SOURCE]

Needs an OpenCV with a GUI (pip install opencv-python) and a display; q or Esc quits.
"""

import sys

import cv2

import edgeseg

bundle = sys.argv[1]
source = sys.argv[2] if len(sys.argv) > 2 else "0"  # camera 0; or a file, rtsp://..., csi://0
with edgeseg.Segmenter(bundle, profile="evs07") as seg:
    for result in seg.stream(source):
        cv2.imshow("edgeseg", cv2.cvtColor(result.overlay(), cv2.COLOR_RGB2BGR))
        if cv2.waitKey(1) & 0xFF in (ord("q"), 27):
            break
    print(seg.stats()["fps"], "FPS")
