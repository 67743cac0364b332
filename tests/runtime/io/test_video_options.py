"""Source/sink settings: flags give defaults, a URI's query overrides them, and sources and sinks use them."""

import cv2
import numpy as np
import pytest

from edgeseg.errors import UsageError
from edgeseg.runtime.io.sinks import SinkError, open_sink
from edgeseg.runtime.io.sources import csi_pipeline
from edgeseg.runtime.io.video_options import CSI_MODE, VideoOptions, split_uri

PALETTE = np.random.default_rng(0).integers(0, 255, (11, 3), dtype=np.uint8)


def test_a_uri_query_overrides_the_flags():
    target, opts = split_uri("csi://1?width=1920&height=1080&rate=60", VideoOptions(rate=30, latency=100))
    assert target == "csi://1" and (opts.width, opts.height, opts.rate, opts.latency) == (1920, 1080, 60.0, 100)
    assert "width=1920,height=1080,framerate=60/1" in csi_pipeline("1", opts)


def test_csi_without_settings_asks_for_its_default_mode():
    pipeline = csi_pipeline("0", VideoOptions())
    assert f"width={CSI_MODE['width']},height={CSI_MODE['height']}" in pipeline and "sensor-id=0" in pipeline


def test_a_network_stream_keeps_its_own_query():
    target, opts = split_uri("rtsp://cam/live?channel=2&latency=800", VideoOptions())
    assert target == "rtsp://cam/live?channel=2" and opts.latency == 800


@pytest.mark.parametrize("uri, message", [("file://a.mp4?color=1", "unknown option 'color'"),
                                          ("csi://0?width=wide", "must be a number"),
                                          ("csi://0?rate=-1", "must be >= 0"),
                                          ("display://left", "display index")])
def test_bad_settings_are_one_line_usage_errors(uri, message):
    with pytest.raises(UsageError, match=message):
        split_uri(uri, VideoOptions())


def test_display_index_and_plain_paths():
    assert split_uri("display://2", VideoOptions())[1].display == 2
    assert split_uri("odd?name.mp4", VideoOptions())[0] == "odd?name.mp4"  # no scheme: the path is taken as is


def test_a_video_sink_writes_the_asked_size_rate_and_codec(tmp_path):
    sink = open_sink(f"file://{tmp_path / 'o.avi'}?width=48&height=32&rate=12&codec=MJPG", PALETTE, fps=25.0)
    rng = np.random.default_rng(1)
    for i in range(3):
        sink.write(rng.integers(0, 255, (64, 96, 3), dtype=np.uint8), rng.integers(0, 11, (64, 96), dtype=np.uint8), i)
    sink.close()
    cap = cv2.VideoCapture(str(tmp_path / "o.avi"))
    assert (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (48, 32)
    assert cap.get(cv2.CAP_PROP_FPS) == pytest.approx(12.0)
    assert int(cap.get(cv2.CAP_PROP_FOURCC)).to_bytes(4, "little") == b"MJPG"
    cap.release()


def test_without_a_source_rate_the_fallback_rate_is_written(tmp_path):
    assert VideoOptions().output_rate(0.0) == 15.0 and VideoOptions(rate=5).output_rate(30.0) == 5.0
    assert VideoOptions().output_rate(25.0) == 25.0


def test_a_codec_that_is_no_fourcc_is_refused_before_the_run(tmp_path):
    with pytest.raises(SinkError, match="four-character"):
        open_sink(str(tmp_path / "o.mp4"), PALETTE, options=VideoOptions(codec="h264x"))
    assert not list(tmp_path.iterdir())  # nothing left behind


def test_a_container_opencv_cannot_write_playably_is_refused_at_open(tmp_path):
    with pytest.raises(SinkError, match="reads .ts videos but does not write them"):
        open_sink(str(tmp_path / "o.ts"), PALETTE)
    # OpenCV opens an MJPG writer for .ts, then writes a file nothing can read back: caught by a probe at open
    with pytest.raises(SinkError, match="playable .ts video with codec MJPG"):
        open_sink(str(tmp_path / "o.ts"), PALETTE, options=VideoOptions(codec="MJPG"))
    assert not list(tmp_path.iterdir())
