"""fmtutor.io under real faults: a full disk, a read-only folder, a folder in the way, racing saves, newer files.

A save that cannot be written raises an OSError that names the file (with the original errno) and leaves
no temporary file behind; racing saves and loads of one file never fail and never load half a file; a file
written by a newer fmtutor is refused with a NewerModelFileError (the cache keeps such a file).
"""

from __future__ import annotations

import errno
import multiprocessing as mp
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from fmtutor import io as fio
from fmtutor.models import MLP


def _model(seed: int = 0, hidden: int = 8, depth: int = 1) -> MLP:
    torch.manual_seed(seed)
    return MLP(hidden=hidden, depth=depth)


def _leftovers(folder: Path, keep: str = "m.pt") -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name != keep)


@pytest.fixture()
def tiny_tmpfs(tmp_path):
    """A real 8 KiB tmpfs (root only: skipped where ``mount`` is not allowed)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_full_disk_raises_an_oserror_naming_the_file_and_leaves_nothing(tiny_tmpfs):
    """Before: RuntimeError '[enforce fail at inline_container.cc] unexpected pos', and m.pt.tmp stayed."""
    path = tiny_tmpfs / "m.pt"
    with pytest.raises(OSError, match=r"cannot write the model file .*m\.pt") as err:
        fio.save_model(_model(hidden=64, depth=2), path)  # ~20 KB: does not fit in 8 KiB
    assert err.value.errno == errno.ENOSPC
    assert list(tiny_tmpfs.iterdir()) == [], "no half-written or temporary file may stay"


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC, errno.EACCES])
def test_a_failing_write_keeps_the_old_file_and_removes_the_temporary_one(
    tmp_path, monkeypatch, code
):
    path = tmp_path / "m.pt"
    fio.save_model(_model(0), path)
    before = path.read_bytes()
    real_fdopen = os.fdopen

    class Failing:
        def __init__(self, fd):
            self.f = real_fdopen(fd, "wb")

        def __enter__(self):
            return self

        def __exit__(self, *a):
            self.f.close()

        def write(self, data):
            self.f.write(bytes(data)[:100])  # half a file, then the disk says no
            raise OSError(code, os.strerror(code))

    monkeypatch.setattr(fio.os, "fdopen", lambda fd, mode: Failing(fd))
    with pytest.raises(OSError, match=r"cannot write the model file .*m\.pt") as err:
        fio.save_model(_model(1), path)
    assert err.value.errno == code
    assert path.read_bytes() == before and _leftovers(tmp_path) == []


def test_a_folder_in_the_way_of_the_file_or_a_file_in_the_way_of_the_folder(tmp_path):
    """Before: IsADirectoryError with m.pt.tmp left behind; a 'File exists' naming only the folder."""
    (tmp_path / "m.pt").mkdir()
    with pytest.raises(IsADirectoryError, match=r"cannot write the model file .*m\.pt"):
        fio.save_model(_model(), tmp_path / "m.pt")
    assert _leftovers(tmp_path) == []
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"cannot write the model file .*file.m\.pt"):
        fio.save_model(_model(), tmp_path / "file" / "m.pt")


def test_temporary_names_are_unique_and_the_file_keeps_normal_permissions(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace
    monkeypatch.setattr(
        fio.os, "replace", lambda a, b: (seen.append(Path(a).name), real_replace(a, b))
    )
    for _ in range(3):
        fio.save_model(_model(), tmp_path / "m.pt")
    assert len(set(seen)) == 3 and all(n.startswith("m.pt.") and n.endswith(".tmp") for n in seen)
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "m.pt").stat().st_mode & 0o777 == 0o666 & ~umask


def _race(args: tuple[int, str, float, "mp.synchronize.Barrier"]) -> tuple[int, int, list[str]]:
    """One racing process: alternate saves of its own model and loads of whatever is there."""
    k, path, seconds, barrier = args
    torch.set_num_threads(1)
    torch.manual_seed(k)
    model = MLP(hidden=192, depth=3)  # ~300 KB: a write takes long enough to overlap another
    saves = loads = 0
    errors = []
    barrier.wait()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if (saves + loads + k) % 2:
                fio.save_model(model, path, writer=k)
                saves += 1
            else:
                back, extra = fio.load_model(path)
                assert extra["writer"] in range(8)
                loads += 1
        except Exception as e:  # noqa: BLE001 - every failure is counted
            errors.append(f"{type(e).__name__}: {str(e)[:120]}")
    return saves, loads, errors


def test_racing_saves_and_loads_never_fail(tmp_path):
    """Before: saves shared one temporary name; racing processes crashed in os.replace or loaded half a file.

    Four processes (forked where possible) save and load one file for 1.5 s each: several hundred
    operations, no error, and no temporary file left.
    """
    path = tmp_path / "m.pt"
    fio.save_model(_model(), path, writer=0)
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    ctx = mp.get_context(method)
    n = 4
    with ctx.Manager() as manager:
        barrier = manager.Barrier(n)
        with ctx.Pool(n) as pool:
            results = pool.map(_race, [(k, str(path), 1.5, barrier) for k in range(n)])
    saves = sum(r[0] for r in results)
    loads = sum(r[1] for r in results)
    errors = [e for r in results for e in r[2]]
    assert errors == [], (
        f"{len(errors)} of {saves + loads + len(errors)} racing operations failed: {errors[:3]}"
    )
    assert saves >= 40 and loads >= 40, (saves, loads)
    assert _leftovers(tmp_path) == []


@pytest.mark.parametrize(
    "change,newer",
    [
        (dict(fmtutor_version="99.0"), True),
        (dict(fmtutor_version="0.10.0rc1"), True),
        (dict(format_version=fio.FORMAT_VERSION + 1), True),
        (dict(fmtutor_version="0.0.1"), False),
        (dict(fmtutor_version="dev"), False),
    ],
)
def test_files_of_a_newer_fmtutor_raise_their_own_error(tmp_path, change, newer):
    path = tmp_path / "m.pt"
    fio.save_model(_model(), path)
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, **change}, path)
    with pytest.raises(fio.ModelFileError, match="m.pt") as err:
        fio.load_model(path)
    assert isinstance(err.value, fio.NewerModelFileError) == newer, str(err.value)
    if newer:
        assert "newer" in str(err.value) or "update fmtutor" in str(err.value)
