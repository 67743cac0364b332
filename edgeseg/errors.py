"""One exception hierarchy. Every message says what failed, why, and what to do about it.

The CLI prints ``str(error)`` on one line and exits with ``error.exit_code``: 2 for usage errors
(bad arguments, bad files given by the user), 1 for failures at run time. The whole table, the same for every
verb (``edgeseg.cli.main``): 0 done, 1 a failure at run time, 2 usage, 130 stopped by SIGINT, 143 by SIGTERM.
"""

from __future__ import annotations


class EdgesegError(Exception):
    """Base class of every error edgeseg raises on purpose."""

    exit_code = 1


class UsageError(EdgesegError):
    """The user asked for something that cannot work (bad argument, bad file, bad value)."""

    exit_code = 2


class MissingDependencyError(EdgesegError):
    """An optional dependency is needed for this feature and is not installed."""

    exit_code = 2


class CheckpointError(UsageError):
    """A checkpoint file is missing, unreadable or describes an unknown architecture."""


class DatasetError(UsageError):
    """A dataset folder is missing, empty, or its images and labels do not match."""
