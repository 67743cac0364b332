"""Sink URIs: an unknown scheme is refused, not taken for a folder named after it."""

import numpy as np
import pytest

from edgeseg.errors import UsageError
from edgeseg.runtime.io.sinks import LabelFolderSink, open_sink

PALETTE = np.zeros((4, 3), np.uint8)


@pytest.mark.parametrize("uri", ["bogus://x", "rtsp://127.0.0.1/out", "udp://0.0.0.0:5000"])
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
