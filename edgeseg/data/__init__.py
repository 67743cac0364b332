"""Dataset readers (CamVid-style folder pairs, Cityscapes layout) and segmentation metrics."""
