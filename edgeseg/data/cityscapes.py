"""Cityscapes layout: ``leftImg8bit[_sequence]/<split>/<city>/*_leftImg8bit.png`` and
``gtFine/<split>/<city>/*_gtFine_labelTrainIds.png`` (19 train ids, 255 ignored).

File names are ``<city>_<seq>_<frame>_<suffix>.png``; the ``_sequence`` folders hold the 30-frame
snippets around each labelled frame (frame 19 of 30 is the labelled one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeseg.errors import DatasetError

IMAGE_SUFFIX = "_leftImg8bit.png"
LABEL_SUFFIX = "_gtFine_labelTrainIds.png"


@dataclass(frozen=True)
class CityscapesSample:
    image: Path
    label: Path
    city: str
    sequence: int
    frame: int


class CityscapesDataset:
    """Labelled frames of one split, with access to their neighbours in the sequence folders."""

    def __init__(self, root: str | Path, split: str = "val"):
        self.root = Path(root)
        self.split = split
        img_dir = self.root / "leftImg8bit" / split
        if not img_dir.is_dir():
            raise DatasetError(f"{img_dir} not found; pass the Cityscapes root (holding leftImg8bit/ and gtFine/)")
        self.samples: list[CityscapesSample] = []
        for img in sorted(img_dir.glob(f"*/*{IMAGE_SUFFIX}")):
            stem = img.name[: -len(IMAGE_SUFFIX)]
            city, seq, frame = stem.rsplit("_", 2)
            label = self.root / "gtFine" / split / img.parent.name / f"{stem}{LABEL_SUFFIX}"
            if not label.is_file():
                raise DatasetError(f"no label {label.name} for {img}; generate labelTrainIds with cityscapesscripts")
            self.samples.append(CityscapesSample(img, label, city, int(seq), int(frame)))
        if not self.samples:
            raise DatasetError(f"no *{IMAGE_SUFFIX} files under {img_dir}")

    def __len__(self) -> int:
        return len(self.samples)

    def sequence_frames(self, sample: CityscapesSample, before: int, after: int = 0) -> list[Path]:
        """Paths of frames ``frame-before .. frame+after`` from ``leftImg8bit_sequence`` (must all exist)."""
        folder = self.root / "leftImg8bit_sequence" / self.split / sample.city
        paths = [folder / f"{sample.city}_{sample.sequence:06d}_{f:06d}{IMAGE_SUFFIX}"
                 for f in range(sample.frame - before, sample.frame + after + 1)]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetError(f"sequence frame {missing[0]} is missing; download leftImg8bit_sequence_trainvaltest")
        return paths
