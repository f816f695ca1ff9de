"""Atomic file writes: a temp file beside the target, renamed over it once complete, so a
reader never sees half a file and a crash leaves the old one; and the clean-up of the temp
files that killed writers leave behind."""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike):
    """Open a temporary file beside ``path`` for binary writing; on success, make it
    ``path`` at once.

    The temp file (``.NAME.PID.RANDOM.tmp``) is created with mode 0o666 less the umask, as
    ``open()`` creates any other output; it is fsynced, renamed over ``path`` with
    ``os.replace`` (atomic on POSIX and Windows), and the directory is fsynced so the rename
    survives a power cut. If the writer raises, the temp file is removed; if the process
    dies, ``path`` still holds its previous contents and the next write removes the orphan.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        temp = path.with_name(f"{_temp_prefix(path)}{os.getpid()}.{secrets.token_hex(4)}.tmp")
        try:
            fd = os.open(temp, flags, 0o666)  # the kernel applies the umask
            break
        except FileExistsError:  # 32 random bits taken: draw again
            continue
    try:
        with os.fdopen(fd, "wb") as file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    if os.name != "nt":  # Windows cannot open a directory; its rename needs no fsync
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


def remove_stale_temps(path: str | os.PathLike) -> list[Path]:
    """Remove the temp files that interrupted :func:`atomic_write` calls for ``path`` left.

    A temp file counts as stale unless the process named in it is still alive (another run
    writing the same path right now); files without a process id (older names) are stale.

    Returns:
        The removed files.
    """
    path = Path(path)
    prefix = _temp_prefix(path)
    removed = []
    for temp in path.parent.glob(f"{prefix}*.tmp"):
        pid = temp.name[len(prefix):].split(".")[0]
        if pid.isdigit() and _alive(int(pid)):
            continue
        try:
            temp.unlink()
        except FileNotFoundError:  # another process cleaned it first
            continue
        except PermissionError:  # Windows: still open in a live writer
            continue
        removed.append(temp)
    return removed


def _alive(pid: int) -> bool:
    """Whether process ``pid`` runs (ours does: another thread may be writing)."""
    if pid == os.getpid():
        return True
    if os.name == "nt":  # os.kill would terminate it; let unlink fail on an open file
        return False
    try:
        os.kill(pid, 0)
    except PermissionError:  # alive, and someone else's
        return True
    except (OSError, OverflowError):  # no such process (or no such pid at all)
        return False
    return True
