import cv2
import numpy as np
import pytest

from edgeseg.data.cityscapes import CityscapesDataset
from edgeseg.errors import DatasetError


def make_tree(root, frames=(17, 18, 19)):
    img = np.zeros((4, 8, 3), np.uint8)
    for split in ("val",):
        (root / "leftImg8bit" / split / "ulm").mkdir(parents=True)
        (root / "gtFine" / split / "ulm").mkdir(parents=True)
        (root / "leftImg8bit_sequence" / split / "ulm").mkdir(parents=True)
        cv2.imwrite(str(root / "leftImg8bit" / split / "ulm" / "ulm_000003_000019_leftImg8bit.png"), img)
        cv2.imwrite(str(root / "gtFine" / split / "ulm" / "ulm_000003_000019_gtFine_labelTrainIds.png"), np.zeros((4, 8), np.uint8))
        for f in frames:
            cv2.imwrite(str(root / "leftImg8bit_sequence" / split / "ulm" / f"ulm_000003_{f:06d}_leftImg8bit.png"), img)


def test_cityscapes_layout(tmp_path):
    make_tree(tmp_path)
    ds = CityscapesDataset(tmp_path, "val")
    assert len(ds) == 1
    s = ds.samples[0]
    assert (s.city, s.sequence, s.frame) == ("ulm", 3, 19)
    assert s.label.name == "ulm_000003_000019_gtFine_labelTrainIds.png"
    assert [p.name[:17] for p in ds.sequence_frames(s, before=2)] == ["ulm_000003_000017", "ulm_000003_000018", "ulm_000003_000019"]


def test_missing_sequence_frame_is_named(tmp_path):
    make_tree(tmp_path, frames=(19,))
    ds = CityscapesDataset(tmp_path, "val")
    with pytest.raises(DatasetError, match="000018"):
        ds.sequence_frames(ds.samples[0], before=1)


def test_not_a_cityscapes_root(tmp_path):
    with pytest.raises(DatasetError, match="leftImg8bit"):
        CityscapesDataset(tmp_path)
