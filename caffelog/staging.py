"""Directories built aside and published in one rename.

A reader, or a rerun after a kill, then sees the old output whole or the new one whole: never half a
set of tables, never two logs' tables mixed. The staging directory gets a unique name made by
mkdtemp (created exclusively, mode 0700), so nobody can plant a symlink where caffelog writes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

RENAME_EXCHANGE = 2  # linux/fs.h


def stage_beside(target: Path) -> Path:
    """A new private directory in target's folder, for building target's new content."""
    return Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))


def publish(stage: Path, target: Path, names: Iterable[str]) -> None:
    """Put the files `names` of stage at target and remove stage.

    Absent or empty, or holding only `names` (an earlier output): target is swapped for stage in one
    rename. Holding other files too (the user's folder): each file is renamed in, in the order given,
    and the other files stay.
    """
    give_usual_mode(stage, 0o777)  # mkdtemp makes 0700
    names = list(names)
    try:
        os.rename(stage, target)  # absent or an empty directory
        return
    except OSError as exc:
        if exc.errno not in (errno.EEXIST, errno.ENOTEMPTY):
            raise
    if set(os.listdir(target)) <= set(names) and _exchange(stage, target):
        shutil.rmtree(stage, ignore_errors=True)  # stage now holds the old output
        return
    for name in names:
        os.replace(stage / name, target / name)
    shutil.rmtree(stage, ignore_errors=True)


def give_usual_mode(path: str | os.PathLike, mode: int) -> None:
    """The permissions a plain open/mkdir would have given (mode less the umask): mkstemp and
    mkdtemp make their files private, outputs should not stay so."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    try:
        renameat2 = ctypes.CDLL(libc_name, use_errno=True).renameat2
    except (OSError, AttributeError, TypeError):
        return False
    at_cwd = -100
    done = renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), RENAME_EXCHANGE) == 0
    if not done and ctypes.get_errno() not in (errno.EINVAL, errno.ENOSYS, errno.EXDEV):
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()), str(b))
    return done
