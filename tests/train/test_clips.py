import numpy as np

from edgeseg.runtime.motion.flow import FlowEstimator, to_gray
from edgeseg.runtime.motion.reference import warp_nearest
from edgeseg.train.clips import synth_clip


def textured(h=120, w=160, seed=0):
    rng = np.random.default_rng(seed)
    import cv2
    noise = cv2.GaussianBlur(rng.integers(0, 255, size=(h, w, 3)).astype(np.uint8), (5, 5), 0)
    lab = np.kron(rng.integers(0, 5, size=(6, 8)), np.ones((20, 20), np.int64)).astype(np.uint8)
    return noise, lab


def test_clip_shapes_and_motion():
    img, lab = textured()
    frames, labels = synth_clip(img, lab, np.random.default_rng(1), frames=4, donor=textured(seed=2))
    assert len(frames) == 4 and frames[0].shape == img.shape and labels[0].shape == lab.shape
    assert np.array_equal(labels[0][:0], lab[:0])
    assert not np.array_equal(frames[0], frames[3])  # it moves
    assert set(np.unique(labels[3])) <= set(range(5))  # labels stay class ids (nearest, no blending)


def test_dis_flow_propagates_clip_labels_better_than_copying():
    img, lab = textured()
    frames, labels = synth_clip(img, lab, np.random.default_rng(3), frames=2)
    flow = FlowEstimator().backward(to_gray(frames[1]), to_gray(frames[0]))
    warped = warp_nearest(labels[0], flow)
    assert (warped == labels[1]).mean() > (labels[0] == labels[1]).mean()
