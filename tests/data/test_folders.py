import cv2
import numpy as np
import pytest

from edgeseg.data.evaluate import evaluate_folder
from edgeseg.data.folders import FolderDataset, paired_samples
from edgeseg.errors import DatasetError


def write_pair(tmp_path, name, label_value):
    (tmp_path / "img").mkdir(exist_ok=True)
    (tmp_path / "lab").mkdir(exist_ok=True)
    img = np.full((8, 10, 3), 40, np.uint8)
    cv2.imwrite(str(tmp_path / "img" / f"{name}.png"), img)
    cv2.imwrite(str(tmp_path / "lab" / f"{name}.png"), np.full((8, 10), label_value, np.uint8))


def test_pairs_match_by_stem_and_sort(tmp_path):
    write_pair(tmp_path, "b", 1)
    write_pair(tmp_path, "a", 2)
    ds = FolderDataset(tmp_path / "img", tmp_path / "lab")
    assert [s.image.stem for s in ds.samples] == ["a", "b"]
    img, lab = ds[0]
    assert img.shape == (8, 10, 3) and lab.dtype == np.uint8 and lab[0, 0] == 2


def test_missing_label_is_named(tmp_path):
    write_pair(tmp_path, "a", 1)
    cv2.imwrite(str(tmp_path / "img" / "orphan.png"), np.zeros((8, 10, 3), np.uint8))
    with pytest.raises(DatasetError, match="orphan.png"):
        paired_samples(tmp_path / "img", tmp_path / "lab")


def test_missing_folder_is_clear(tmp_path):
    with pytest.raises(DatasetError, match="does not exist"):
        paired_samples(tmp_path / "nope", None)


def test_evaluate_folder_perfect_and_wrong_predictions(tmp_path):
    write_pair(tmp_path, "a", 1)
    names = ["x", "y", "z"]
    good = evaluate_folder(lambda rgb: np.ones(rgb.shape[:2], np.uint8), tmp_path / "img", tmp_path / "lab", names, 255, progress=False)
    bad = evaluate_folder(lambda rgb: np.zeros(rgb.shape[:2], np.uint8), tmp_path / "img", tmp_path / "lab", names, 255, progress=False)
    assert good["miou"] == 100.0 and good["frames"] == 1 and good["per_class"]["y"] == 100.0
    assert bad["miou"] == 0.0 and good["per_class"]["x"] is None


def test_camvid_reader_on_real_data(camvid):
    ds = FolderDataset(camvid / "val", camvid / "valannot")
    assert len(ds) == 101
    img, lab = ds[0]
    assert img.shape == (360, 480, 3) and lab.shape == (360, 480) and lab.max() <= 11
