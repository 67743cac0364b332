import numpy as np

from edgeseg.data.metrics import ConfusionMatrix


def test_iou_by_hand():
    truth = np.array([[0, 0, 1, 1], [2, 2, 255, 255]])
    pred = np.array([[0, 1, 1, 1], [2, 0, 0, 1]])
    cm = ConfusionMatrix(3, ignore_id=255)
    cm.update(pred, truth)
    # class 0: tp 1, fp 1 (pixel of class 2), fn 1 -> 1/3; class 1: tp 2, fp 1 -> 2/3; class 2: tp 1, fn 1 -> 1/2
    assert np.allclose(cm.iou(), [1 / 3, 2 / 3, 1 / 2])
    assert np.isclose(cm.miou(), (1 / 3 + 2 / 3 + 1 / 2) / 3)
    assert cm.matrix.sum() == 6  # ignored pixels not counted


def test_absent_class_is_nan_and_skipped():
    cm = ConfusionMatrix(3, ignore_id=None)
    cm.update(np.zeros((2, 2), np.uint8), np.zeros((2, 2), np.uint8))
    iou = cm.iou()
    assert iou[0] == 1.0 and np.isnan(iou[1]) and cm.miou() == 1.0
