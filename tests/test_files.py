"""The one atomic writer: a file is replaced whole or not at all, with a new file's mode."""

import os
import stat
import threading

import pytest

from impasto.files import FILE_MODE, atomic_file, atomic_path


def test_a_file_is_replaced_whole_with_the_umasks_mode(tmp_path):
    path = tmp_path / "out.txt"
    path.write_text("old")
    with atomic_file(path, "w", encoding="utf-8") as file:
        file.write("new")
        assert path.read_text() == "old"  # nothing is seen before the block ends
    assert path.read_text() == "new"
    umask = os.umask(0o022)
    os.umask(umask)
    assert FILE_MODE == 0o666 & ~umask
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_an_error_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_file(path) as file:
        file.write(b"half")
        raise RuntimeError("the writer failed")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]


def test_a_path_for_writers_that_take_a_name(tmp_path):
    with atomic_path(tmp_path / "clip.mp4") as temporary:
        assert temporary.parent == tmp_path and temporary.suffix == ".mp4"
        temporary.write_bytes(b"frames")
    assert (tmp_path / "clip.mp4").read_bytes() == b"frames"


def test_writing_from_threads_never_changes_the_umask(tmp_path):
    """The umask is process-wide: a writer that set it to read it would race with other threads' files."""
    before = os.umask(0o022)
    os.umask(before)

    def write(index: int) -> None:
        for round_ in range(20):
            with atomic_file(tmp_path / f"{index}-{round_}.bin") as file:
                file.write(b"x")

    threads = [threading.Thread(target=write, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(200):
        folder = tmp_path / "folder"
        folder.mkdir()
        assert stat.S_IMODE(folder.stat().st_mode) == 0o777 & ~before
        folder.rmdir()
    for thread in threads:
        thread.join()
    assert all(stat.S_IMODE(p.stat().st_mode) == FILE_MODE for p in tmp_path.iterdir())
