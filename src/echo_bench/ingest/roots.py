"""Allowed roots: every file ingest reads must lie, after following links, inside one of them.

A dump is untrusted: a symlink in it (``media/x.png -> /etc/passwd``, ``a.json ->
~/.netrc``) or a ``..`` in a media path must not make ingest read a file outside
the dump and its media folders.  :func:`open_inside` resolves the path with
``os.path.realpath`` (all links followed), checks containment, opens the
resolved path with ``O_NOFOLLOW`` (so a link swapped in after the check is not
followed) and ``O_NONBLOCK`` (so a FIFO cannot hang the run), and accepts only a
regular file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from typing import IO


class OutsideRoot(Exception):
    """A path that resolves outside every allowed root (or is not a regular file)."""


def inside(path: str, root: str) -> bool:
    """Whether the resolved ``path`` is ``root`` or below it (both already resolved)."""
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(path: str | os.PathLike[str], roots: Iterable[str]) -> str:
    """The resolved ``path``; :class:`OutsideRoot` unless it lies inside one of the resolved ``roots``."""
    real = os.path.realpath(path)
    if not any(inside(real, r) for r in roots):
        raise OutsideRoot(f"{os.fspath(path)!r} resolves to {real!r}, outside the dump and its media folders")
    return real


def open_inside(path: str | os.PathLike[str], roots: Iterable[str] | str) -> IO[bytes]:
    """Open ``path`` for binary reading if it resolves inside ``roots`` and is a regular file."""
    if isinstance(roots, str):
        roots = [roots]
    real = resolve_inside(path, roots)
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(real, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OutsideRoot(f"{os.fspath(path)!r} is not a regular file")
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
