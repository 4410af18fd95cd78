"""A chapter with a cache it cannot write runs to its end: chapter 6, in a fresh kernel, on a full disk.

Chapter 6 is the shortest chapter with a cached model (chapter 5's). Its kernel gets ``FMTUTOR_CACHE``
pointing at a real 8 KiB tmpfs where ``mount`` is allowed (root on Linux), else at a folder whose path
runs through a regular file (a fault that root cannot override); either way the model trained in the
chapter cannot be saved. Before: the chapter died after training with a C++ message naming no file.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_chapters = sys.modules["fmtutor_tests_chapters"]  # tests/_chapters.py, loaded by conftest.py
CHAPTER = _chapters.NOTEBOOKS / "06_midpoint_sampling.ipynb"


def _full_or_blocked(tmp_path: Path) -> tuple[Path, str, "Path | None"]:
    """(cache folder, what the chapter should print, the tmpfs to unmount or None)."""
    where = tmp_path / "tiny"
    where.mkdir()
    if sys.platform == "linux" and os.geteuid() == 0 and shutil.which("mount"):
        mount = ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(where)]
        if subprocess.run(mount, capture_output=True).returncode == 0:
            return where, "No space left on device", where
    (tmp_path / "blocker").write_text("a file where a folder should be")
    return tmp_path / "blocker" / "cache", "Not a directory", None


@pytest.mark.slow
def test_chapter_6_runs_to_its_end_when_the_cache_cannot_be_written(tmp_path, monkeypatch):
    folder, why, mounted = _full_or_blocked(tmp_path)
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(CHAPTER, work / CHAPTER.name)
    monkeypatch.setenv("FMTUTOR_CACHE", str(folder))
    try:
        nb, seconds = _chapters.execute(work / CHAPTER.name, timeout=120)  # raises on a failed cell
        if mounted is not None:
            assert list(mounted.iterdir()) == [], "no temporary file may stay on the full disk"
    finally:
        if mounted is not None:
            subprocess.run(["umount", "-l", str(mounted)], capture_output=True)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.get("execution_count") for c in code), "every code cell ran"
    text = "".join(
        o.get("text", "") for c in code for o in c.get("outputs", []) if o.output_type == "stream"
    )
    lines = [line for line in text.splitlines() if "could not cache" in line]
    assert len(lines) == 1, text[-2000:]
    assert str(folder / "moons_mlp.pt") in lines[0] and why in lines[0], lines[0]
    assert seconds < 90, f"chapter 6 took {seconds:.0f} s"
