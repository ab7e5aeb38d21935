"""The one way impasto writes a file: atomically, so that a reader, a crash or Ctrl-C never sees half of it.

A temporary file in the destination's folder is written, flushed to disk, given the mode a new file
gets under the process's umask, and renamed over the destination; the folder is then flushed too, so
the rename survives a power cut. On any error the temporary file is removed and the destination is
left as it was.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["FILE_MODE", "atomic_file", "atomic_path"]


def _umask() -> int:
    """The process's umask, read without changing it where the system tells it (Linux); elsewhere set
    and restored at once. Read once, at import, before any thread that writes files has started: the
    umask is process-wide, and setting it while another thread creates a file would give that file
    the wrong mode."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    umask = os.umask(0o022)
    os.umask(umask)
    return umask


FILE_MODE = 0o666 & ~_umask()
"""The mode of the files impasto writes: a new file's under the umask (0644 under the usual 022)."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """A temporary path beside `path` to write to (for writers that take a file name, such as a
    video muxer); when the block ends without an error it is flushed, given `FILE_MODE` and renamed
    to `path`, else removed. `suffix` (default `path`'s) lets writers that judge by it see the right one."""
    out = Path(path)
    descriptor, name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.stem}.",
                                        suffix=out.suffix if suffix is None else suffix)
    os.close(descriptor)
    temporary = Path(name)
    try:
        yield temporary
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.chmod(temporary, FILE_MODE)  # mkstemp makes it private (0600)
        os.replace(temporary, out)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    _sync_folder(out.parent)


@contextlib.contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", **options: Any) -> Iterator[IO[Any]]:
    """An open file (`mode` "wb" or "w", `options` as for `open`) whose content replaces `path` when
    the block ends without an error; on an error `path` is left as it was."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_file writes a new file: mode 'w' or 'wb', got {mode!r}")
    with atomic_path(path) as temporary, open(temporary, mode, **options) as file:
        yield file


def _sync_folder(folder: Path) -> None:
    """Flush a folder's entries (the rename) to disk, where the system allows opening a folder."""
    with contextlib.suppress(OSError):
        descriptor = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
