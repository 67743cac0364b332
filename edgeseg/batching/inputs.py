"""What ``edgeseg batch`` processes: INPUT arguments -> one ``Video`` each (a video file or a folder of frames).

An INPUT is a video file, a folder (its video files, and its sub-folders of images, one video each; a folder of
images only is itself one video), a glob, a list file (``.txt``: one URI per line, ``#`` comments), or a manifest
(``.csv`` with a ``uri`` column and an optional ``labels`` column, or ``.jsonl`` with the same keys). A URI with a
scheme other than ``file://`` (``s3://``, ``gs://``, ``memory://``...) is read through fsspec where the installed
filesystems know it; it is copied to a local file only when its worker processes it.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from edgeseg._uri import redact_uri as shown  # rows and logs show URIs without credentials
from edgeseg.data.folders import list_images
from edgeseg.errors import EdgesegError, UsageError

VIDEO_EXTENSIONS = {".mp4", ".avi", ".mkv", ".mov", ".webm", ".ts", ".m4v", ".mpg", ".mpeg"}


@dataclass(frozen=True)
class Video:
    """One video of a batch: where it is, its output folder's name, its label folder (``propagate``), and what
    identifies its content (size and mtime; a changed file is processed again)."""

    uri: str
    key: str
    labels: str | None = None
    size: int = 0
    mtime_ns: int = 0
    error: str | None = None  # it cannot even be listed (gone, unreadable): a failed row, the job goes on

    def to_row(self) -> dict[str, Any]:
        return asdict(self)


def is_remote(uri: str) -> bool:
    """A URI read through fsspec (an object store), not a local path."""
    scheme = urlsplit(uri).scheme
    return len(scheme) > 1 and scheme != "file"


def video_key(uri: str) -> str:
    """Output folder name: the video's stem (safe characters only) and 8 hex digits of its URI, so two videos with
    the same name in different folders never share a folder."""
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(urlsplit(uri).path.rstrip("/")).stem or "video")[:60]
    return f"{stem}-{hashlib.sha256(uri.encode()).hexdigest()[:8]}"


def _stat(uri: str) -> tuple[int, int]:
    """(size, mtime in ns) of a file, a folder of frames (sum of sizes, newest mtime) or a remote object."""
    if is_remote(uri):
        import fsspec
        fs, path = fsspec.core.url_to_fs(uri)
        info = fs.info(path)
        mtime = info.get("mtime") or info.get("LastModified") or info.get("created") or 0
        stamp = int(mtime.timestamp() * 1e9) if hasattr(mtime, "timestamp") else int(float(mtime) * 1e9)
        return int(info.get("size") or 0), stamp
    path = Path(uri.removeprefix("file://"))
    if path.is_dir():
        stats = [p.stat() for p in list_images(path)]
        return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def _absolute(uri: str | None) -> Any:
    if not uri or is_remote(uri):
        return uri
    return str(Path(uri.removeprefix("file://")).absolute())


def _video(uri: str, labels: str | None = None) -> Video:
    try:
        size, mtime = _stat(uri)
    except (OSError, ValueError, ImportError, EdgesegError) as exc:
        return Video(uri, video_key(uri), labels, error=f"cannot read {shown(uri)}: {getattr(exc, 'strerror', None) or exc}")
    return Video(uri, video_key(uri), labels, size, mtime)


def _in_folder(folder: Path) -> list[str]:
    videos = sorted(str(p) for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_EXTENSIONS)
    frames = sorted(str(p) for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".") and _has_images(p))
    if not videos and not frames and _has_images(folder):
        return [str(folder)]  # a folder of frames is one video
    return videos + frames


def _has_images(folder: Path) -> bool:
    try:
        return bool(list_images(folder))
    except (OSError, EdgesegError):
        return False


def _manifest(path: Path) -> list[tuple[str, str | None]]:
    """(uri, labels) rows of a CSV, JSONL or list file; relative paths are relative to the file."""
    def local(value: str | None) -> str | None:
        if not value:
            return None
        return value if is_remote(value) or Path(value).is_absolute() else str(path.parent / value)
    rows: list[tuple[str, str | None]] = []
    try:
        text = path.read_text()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    if path.suffix.lower() == ".csv":
        reader = csv.DictReader(text.splitlines())
        if "uri" not in (reader.fieldnames or []):
            raise UsageError(f"{path}: a CSV manifest needs a 'uri' column (and optionally 'labels')")
        rows = [(local(r["uri"]) or "", local(r.get("labels"))) for r in reader if r.get("uri")]
    elif path.suffix.lower() == ".jsonl":
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                rows.append((local(str(item["uri"])) or "", local(item.get("labels"))))
            except (ValueError, KeyError, TypeError):
                raise UsageError(f"{path}:{n}: each line must be a JSON object with a 'uri' (and optionally 'labels')") from None
    else:
        rows = [(local(line.strip()) or "", None) for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return rows


def list_videos(inputs: list[str]) -> list[Video]:
    """Every video the INPUT arguments name, in order, each once; a clear UsageError for an input that names none."""
    found: list[tuple[str, str | None]] = []
    for item in inputs:
        path = Path(item.removeprefix("file://"))
        if is_remote(item):
            found.append((item, None))
        elif path.is_file() and path.suffix.lower() in (".csv", ".jsonl", ".txt"):
            found += _manifest(path)
        elif path.is_dir():
            found += [(u, None) for u in _in_folder(path)]
        elif path.is_file():
            found.append((str(path), None))
        elif glob.has_magic(item):
            found += [(u, None) for u in sorted(glob.glob(item)) if Path(u).is_dir() or Path(u).suffix.lower() in VIDEO_EXTENSIONS]
        else:
            raise UsageError(f"input {shown(item)} does not exist (a video, a folder, a glob, a list or a manifest)")
    seen, videos = set(), []
    # local paths absolute: keys and markers then do not depend on the folder a job is started from, and the
    # workers of a cluster open what was meant
    found = [(_absolute(u), _absolute(lab)) for u, lab in found]
    for uri, labels in found:
        if uri and uri not in seen:
            seen.add(uri)
            videos.append(_video(uri, labels))
    if not videos:
        raise UsageError(f"no videos found in {', '.join(map(shown, inputs))}")
    return videos
