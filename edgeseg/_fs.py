"""File output that never replaces what the user named with something else.

A regular file (or a new name) is written atomically: to a temporary name in its folder, then renamed over it.
A special file (a device such as /dev/full or /dev/stdout, a FIFO, a socket) is written through, never replaced.
A symlink keeps pointing where it did: its target is written (atomically when the target is a regular file).
No folder is created unless the caller asks for it (``make_folder``: the output's own folder, never its parents).
Temporary files carry the writer's PID; those of a writer that died (SIGKILL) are swept at the next write.
"""

from __future__ import annotations

import os
import stat
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from edgeseg.errors import EdgesegError


class OutputError(EdgesegError):
    """An output cannot be written where the user named it: exit code 1 (refused at run time), 2 when the name itself
    is wrong (its folder does not exist)."""

    def __init__(self, message: str, usage: bool = False):
        super().__init__(message)
        if usage:
            self.exit_code = 2


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()  # read once, at import: os.umask can only be read by setting it, which races other threads


def default_mode(directory: bool = False) -> int:
    """The mode a plain open()/mkdir() would give (mkstemp/mkdtemp use 0600/0700)."""
    return (0o777 if directory else 0o666) & ~_UMASK


def is_special(path: Path) -> bool:
    """Whether ``path`` is to be written through, never replaced: it exists (symlinks followed) and is not a regular
    file or folder (a device, FIFO or socket); or it is a handle on an open file (``/dev/stdout``, ``/dev/fd/N``,
    ``/proc/self/fd/N``: a shell redirection ``> log`` makes it a regular file, which must keep its inode); or it
    is the very file this process's stdout or stderr writes to."""
    text = os.path.abspath(path)
    if text.startswith(("/dev/", "/proc/")):
        return os.path.exists(text)
    try:
        st = os.stat(path)
    except OSError:
        return False
    return not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)) or own_stream(path) is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(tmp: Path, suffix: str) -> int | None:
    """The PID in a temporary's name ``.NAME.pidPID.RANDOM<suffix>`` (mkstemp's RANDOM has no dots), else None."""
    stem = tmp.name[: -len(suffix)] if suffix and tmp.name.endswith(suffix) else tmp.name
    parts = stem.rsplit(".", 2)
    if len(parts) == 3 and parts[1].startswith("pid") and parts[1][3:].isdigit():
        return int(parts[1][3:])
    return None


def sweep_stale_temps(folder: Path, pattern: str, suffix: str = ".tmp") -> int:
    """Remove the temporaries in ``folder`` matching ``pattern`` whose writer (the PID in the name) is no longer
    running; returns how many."""
    swept = 0
    for tmp in folder.glob(pattern):
        owner = _owner(tmp, suffix)
        if owner is not None and owner != os.getpid() and not _pid_alive(owner):
            tmp.unlink(missing_ok=True)
            swept += 1
    return swept


def temp_name(path: Path, suffix: str = ".tmp", sweep: bool = True) -> Path:
    """A new empty temporary file next to ``path`` named after it and this process; a dead writer's temporaries of
    ``path`` are swept first (``sweep``: a caller writing many files sweeps their folder once instead)."""
    if sweep:
        sweep_stale_temps(path.parent, f".{glob_escape(path.name)}.pid*{suffix}", suffix)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.pid{os.getpid()}.", suffix=suffix, dir=path.parent)
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    os.close(fd)
    return Path(tmp)


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def check_folder(path: Path, make_folder: bool = False) -> None:
    """The folder ``path`` goes in must exist (``make_folder``: it is created, but not its parents)."""
    folder = path.parent
    if folder.is_dir():
        return
    if make_folder and folder.parent.is_dir():
        try:
            folder.mkdir(mode=default_mode(directory=True), exist_ok=True)
            return
        except OSError as exc:
            raise OutputError(f"cannot create {folder}: {exc.strerror or exc}") from None
    raise OutputError(f"cannot write {path}: folder {folder} does not exist; create it first (edgeseg makes no folders "
                      "you did not name)", usage=True)


@contextmanager
def atomic_path(path: str | os.PathLike[str], make_folder: bool = False, sweep: bool = True) -> Iterator[Path]:
    """Yield the path to write ``path``'s content to: a temporary name renamed over it on success (removed on
    failure), or ``path`` itself when it is a special file (written through). A symlink's target is written."""
    path = Path(path)
    if is_special(path):
        yield path
        return
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    check_folder(target, make_folder)
    tmp = temp_name(target, sweep=sweep)
    try:
        yield tmp
        os.chmod(tmp, default_mode())
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str, make_folder: bool = False) -> None:
    """Write ``text`` to ``path`` as ``atomic_path`` says (a special file is written through)."""
    fd = own_stream(Path(path))
    if fd is not None:  # our own stdout/stderr (or the file it goes to): through its descriptor, in order with it
        (sys.stdout if fd == 1 else sys.stderr).flush()
        data = text.encode()
        while data:
            data = data[os.write(fd, data):]
        return
    with atomic_path(path, make_folder) as tmp:
        with open(tmp, "w") as f:  # a FIFO or a device is opened and written through
            f.write(text)


def own_stream(path: Path) -> int | None:
    """1 or 2 when ``path`` is where this process's stdout or stderr goes (``/dev/stdout``, the file it was
    redirected to), else None."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    for fd in (1, 2):
        try:
            if os.path.samestat(st, os.fstat(fd)):
                return fd
        except OSError:
            continue
    return None
