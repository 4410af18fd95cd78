"""A chapter with a cache it cannot write runs to its end, in a fresh kernel, on a full disk.

Every chapter that saves a trained model (5, 6, 9, 10, 11) is run once. Its kernel gets ``FMTUTOR_CACHE``
pointing at a real 8 KiB tmpfs where ``mount`` is allowed (root on Linux), else at a folder whose path
runs through a regular file (a fault that root cannot override); either way the model trained in the
chapter cannot be saved. Before: the chapter died after training with a C++ message naming no file.
Each chapter must run to its end and say once per model file that it could not cache it, and where.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

_chapters = sys.modules["fmtutor_tests_chapters"]  # tests/_chapters.py, loaded by conftest.py
CHAPTERS = {
    "05_training.ipynb": ["moons_mlp.pt"],
    "06_midpoint_sampling.ipynb": ["moons_mlp.pt"],
    "09_schedulers_and_diffusion.ipynb": ["09_blobs_"],
    "10_guidance.ipynb": ["10_three_classes.pt"],
    "11_images_on_a_cpu.ipynb": ["11_digits.pt"],
}


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
@pytest.mark.parametrize("name", sorted(CHAPTERS))
def test_a_chapter_runs_to_its_end_when_the_cache_cannot_be_written(name, tmp_path, monkeypatch):
    folder, why, mounted = _full_or_blocked(tmp_path)
    work = tmp_path / "notebooks"
    work.mkdir()
    shutil.copy(_chapters.NOTEBOOKS / name, work / name)
    monkeypatch.setenv("FMTUTOR_CACHE", str(folder))
    try:
        nb, _ = _chapters.execute(work / name, timeout=180)  # raises on a failed cell
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
    assert lines, text[-2000:]
    for file in CHAPTERS[name]:
        said = [line for line in lines if str(folder / file) in line]
        assert said and all(why in line for line in said), lines
    named = [line.split(str(folder))[1].split()[0] for line in lines]
    assert len(named) == len(set(named)), f"said more than once per file: {lines}"
