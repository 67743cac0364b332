"""Sink URIs: an unknown scheme is refused, not taken for a folder named after it; outputs the user named are
written through (devices, FIFOs, symlinks), no parent folder is made, stale temporaries are swept."""

import cv2
import numpy as np
import pytest

from edgeseg.errors import UsageError
from edgeseg.runtime.io.sinks import LabelFolderSink, open_sink

PALETTE = np.array([[10, 20, 30], [200, 100, 50], [0, 0, 0], [255, 255, 255]], np.uint8)


@pytest.mark.parametrize("uri", ["bogus://x", "ftp://127.0.0.1/out", "srt://0.0.0.0:5000"])
def test_an_unknown_scheme_is_refused_and_nothing_is_created(uri, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="unknown scheme"):
        open_sink(uri, PALETTE)
    assert not list(tmp_path.iterdir())


def test_a_file_uri_and_a_plain_path_are_still_folders(tmp_path):
    for uri in (f"file://{tmp_path / 'a'}", str(tmp_path / "b")):
        sink = open_sink(uri, PALETTE)
        assert isinstance(sink, LabelFolderSink)
        sink.close()


# --- outputs the user named are written through, never replaced ------------------------------------

def test_stats_to_a_device_fifo_or_symlink_are_written_through(tmp_path):
    import os
    import threading

    from edgeseg._fs import atomic_write_text
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    got = []
    reader = threading.Thread(target=lambda: got.append(open(fifo).read()))
    reader.start()
    atomic_write_text(fifo, '{"a": 1}')
    reader.join(5)
    assert got == ['{"a": 1}'] and fifo.is_fifo()  # still a FIFO, and the reader got the text
    target = tmp_path / "real.json"
    target.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(target)
    atomic_write_text(link, "new")
    assert link.is_symlink() and target.read_text() == "new"
    atomic_write_text("/dev/null", "gone")  # a device: written through; replacing it would need root and break it
    assert os.path.exists("/dev/null") and not os.path.isfile("/dev/null")
    with pytest.raises(OSError):  # a full device says so instead of being swapped for a file
        atomic_write_text("/dev/full", "x")


def test_no_parent_folder_is_created_and_stale_temps_are_swept(tmp_path):
    import os
    import subprocess
    import sys

    from edgeseg._fs import OutputError, atomic_write_text
    with pytest.raises(OutputError, match="does not exist"):
        atomic_write_text(tmp_path / "nope" / "stats.json", "{}")
    assert not (tmp_path / "nope").exists()
    with pytest.raises(OutputError, match="does not exist"):
        open_sink(str(tmp_path / "nope" / "out.mp4"), PALETTE)
    assert not (tmp_path / "nope").exists()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".out.mp4.pid{int(dead.stdout)}.abc.mp4"  # a writer killed mid-run left this
    stale.write_bytes(b"half")
    sink = open_sink(str(tmp_path / "out.mp4"), PALETTE)
    assert not stale.exists()
    sink.close()
    (tmp_path / "labels").mkdir()
    stale_png = tmp_path / "labels" / f".frame.0007.png.pid{int(dead.stdout)}.xyz.tmp"
    mine = tmp_path / "labels" / f".frame.0008.png.pid{os.getpid()}.xyz.tmp"  # a live writer's (this one's): kept
    stale_png.write_bytes(b"half")
    mine.write_bytes(b"writing")
    open_sink(str(tmp_path / "labels"), PALETTE).close()
    assert not stale_png.exists() and mine.exists()


def test_a_png_name_is_refused_and_colour_labels_are_offered(tmp_path):
    with pytest.raises(UsageError, match="folder for one label PNG"):
        open_sink(str(tmp_path / "out.png"), PALETTE)
    assert not (tmp_path / "out.png").exists()
    sink = open_sink(f"file://{tmp_path / 'labels'}?colour=1", PALETTE)
    labels = np.zeros((8, 8), np.uint8)
    labels[:, 4:] = 1
    sink.write(np.zeros((8, 8, 3), np.uint8), labels, 0)
    image = cv2.cvtColor(cv2.imread(str(tmp_path / "labels" / "000000.png")), cv2.COLOR_BGR2RGB)
    assert (image[0, 0] == PALETTE[0]).all() and (image[0, 7] == PALETTE[1]).all()


def test_a_plain_video_path_takes_options(tmp_path):
    sink = open_sink(f"{tmp_path / 'out.avi'}?rate=7", PALETTE)
    assert sink.fps == 7 and sink.dest == tmp_path / "out.avi"
    sink.close()


def test_an_overlay_caption_names_point_frame_and_keyframe(tmp_path):
    from edgeseg.runtime.io.sinks import render
    rgb = np.full((272, 640, 3), 128, np.uint8)
    labels = np.zeros((272, 640), np.uint8)
    plain = render(rgb.copy(), labels, PALETTE, None)
    captioned = render(rgb.copy(), labels, PALETTE, None, caption="evs07 (D1 S5 W)  frame 12  keyframe")
    changed = np.argwhere((plain != captioned).any(axis=2))
    assert len(changed) and changed[:, 0].min() > 272 - 40  # a band along the bottom edge, nothing else touched
    assert changed[:, 1].max() < 640


def test_run_writes_captions_into_the_overlay_video(tiny_set, tmp_path):
    from edgeseg.bundle import load_bundle
    from edgeseg.data.folders import list_images, read_rgb
    from edgeseg.profiles import OperatingPoint
    from edgeseg.runtime.io.sources import FrameListSource
    from edgeseg.runtime.pipeline.core import Pipeline
    from edgeseg.runtime.pipeline.session import Session, Stream

    class Captions(LabelFolderSink):  # a real folder sink that also keeps what the session asked it to caption
        captioned = True

        def write(self, rgb, labels, index, name="", caption=""):
            self.got = [*getattr(self, "got", []), caption]
            super().write(rgb, labels, index, name)
    root, bundle = tiny_set
    frames = [read_rgb(p) for p in list_images(root / "frames")][:3]
    sink = Captions(tmp_path / "labels")
    op = OperatingPoint(name="pt", keyframe_interval=2)
    Session([Stream("s", FrameListSource(frames), Pipeline(load_bundle(bundle), op), sink)]).run()
    assert sink.got == [f"pt ({op.label()})  frame 0  keyframe", f"pt ({op.label()})  frame 1  propagated",
                        f"pt ({op.label()})  frame 2  keyframe"]


def test_stats_to_dev_stdout_redirected_to_a_file_keep_that_file(tmp_path):
    import subprocess
    import sys
    log = tmp_path / "log.txt"
    code = ("import sys; from edgeseg._fs import atomic_write_text\n"
            "print('before', flush=True); atomic_write_text('/dev/stdout', 'STATS\\n'); print('after', flush=True)\n")
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True)
    assert log.read_text() == "before\nSTATS\nafter\n"  # one file, written through in order: not replaced
