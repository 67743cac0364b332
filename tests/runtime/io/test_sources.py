"""Sources on real files: a video damaged in the middle keeps decoding past the bad packets (the frames lost are
counted), a truncated one still ends with an error."""

import os

import cv2
import numpy as np

from edgeseg.runtime.io.sources import Status, open_source


def moving_clip(path, frames=250, size=(160, 120), codec="MJPG"):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*codec), 25, size)
    for i in range(frames):
        f = np.full((size[1], size[0], 3), i % 255, np.uint8)
        f[:, i % size[0]] = 255
        writer.write(f)
    writer.release()
    return path


def read_all(uri):
    src = open_source(str(uri))
    frames, last, names = 0, None, []
    while True:
        r = src.read()
        if r.status is not Status.FRAME:
            last = r
            break
        frames += 1
        names.append(r.name)
    src.close()
    src.names = names
    return src, frames, last


def test_a_damaged_middle_is_skipped_and_counted(tmp_path, capfd):
    for codec, ext in (("MJPG", ".avi"), ("mp4v", ".mp4")):
        path = moving_clip(tmp_path / f"clip{ext}", codec=codec)
        data = bytearray(path.read_bytes())
        a, b = int(len(data) * 0.38), int(len(data) * 0.45)
        data[a:b] = np.random.default_rng(1).integers(0, 256, b - a, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        src, frames, last = read_all(path)
        assert last.status is Status.END, last.reason  # not an error: decoding went on after the damage
        assert 200 <= frames < 250
        assert src.skipped == 250 - frames
        assert "damaged data after frame" in capfd.readouterr().err
        assert len(set(src.names)) == frames and src.names == sorted(src.names)  # never a name twice, in order
        if ext == ".mp4":  # timestamps keep the gap: the last frame keeps its own number
            assert src.names[-1] == "000249"


def test_a_truncated_file_still_ends_with_an_error(tmp_path):
    path = moving_clip(tmp_path / "clip.avi", frames=60)
    path.write_bytes(path.read_bytes()[: os.path.getsize(path) // 2])
    src, frames, last = read_all(path)
    assert last.status is Status.ERROR and "decoding stopped at frame" in last.reason
    assert 0 < frames < 60
