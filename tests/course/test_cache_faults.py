"""fmtutor.course.cache under real faults, and a cache key that sees the data and the code.

A cache that cannot be written (read-only or full disk, a folder or a file in the way) never costs a chapter
its freshly trained model: the model comes back (``saved=False``), one line says where caching failed, and
no temporary file stays. A file written by a newer fmtutor is kept, not overwritten. Editing the training
data (chapter 10's classes), the training function or an fmtutor module it uses makes the cached file
stale; nothing else does (the same code in another process, with other modules imported, loads it).
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
import textwrap
from collections import deque
from pathlib import Path

import pytest
import torch

import fmtutor as fm
from fmtutor import io as fio
from fmtutor.course import cache, ch05
from fmtutor.models import MLP


def small(seed: int = 0, hidden: int = 8, depth: int = 1) -> MLP:
    torch.manual_seed(seed)
    return MLP(hidden=hidden, depth=depth)


def _same(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _fast_moons(**settings):
    """Chapter 5's loop, 20 steps: what moons_model trains, in a test's time."""
    return _real_train_moons(**{**settings, "steps": 20})


_real_train_moons = ch05.train_moons


def _refuse(code: int):
    def save_model(*a, **k):
        raise OSError(code, os.strerror(code))

    return save_model


def _one_line_naming(out: str, path: Path) -> str:
    lines = [line for line in out.splitlines() if "could not cache" in line]
    assert len(lines) == 1, f"expected one 'could not cache' line, got: {out!r}"
    assert str(path) in lines[0], f"the line does not say where it tried: {lines[0]}"
    return lines[0]


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_cached_keeps_the_trained_model_when_the_save_fails(code, tmp_path, monkeypatch, capsys):
    """Before: the OSError ended the chapter after training, and the model was lost (chapters 9-11)."""
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    monkeypatch.setattr(cache, "save_model", _refuse(code))
    out = cache.cached("m.pt", lambda: (small(3), {"losses": [1.0]}), {"steps": 2})
    assert out.status == "trained" and out.saved is False
    assert _same(out.model, small(3)) and out.extra["losses"] == [1.0]
    model, extra = out  # the chapters' `model, extra = cache.cached(...)` still works
    line = _one_line_naming(capsys.readouterr().out, tmp_path / "m.pt")
    assert os.strerror(code) in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("code", [errno.EROFS, errno.ENOSPC])
def test_chapter_5_and_6_go_on_when_the_save_fails(code, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    monkeypatch.setattr(ch05, "train_moons", _fast_moons)
    monkeypatch.setattr(cache, "save_model", _refuse(code))
    trained = cache.moons_model()  # chapter 6
    assert trained.status == "trained" and trained.saved is False
    _one_line_naming(capsys.readouterr().out, tmp_path / cache.MOONS_FILE)
    kept = cache.save_moons_model(trained.model, losses=[1.0])  # chapter 5
    assert kept.saved is False and kept.model is trained.model
    _one_line_naming(capsys.readouterr().out, tmp_path / cache.MOONS_FILE)
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_of_the_cache_folder_or_a_folder_in_the_way_of_the_file(
    tmp_path, monkeypatch, capsys
):
    """Real faults that root cannot override: ENOTDIR for the folder, EISDIR for the file."""
    (tmp_path / "blocker").write_text("a file where the cache folder should be")
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path / "blocker" / "cache"))
    out = cache.cached("m.pt", lambda: small(1), {"a": 1})
    assert out.saved is False and _same(out.model, small(1))
    _one_line_naming(capsys.readouterr().out, tmp_path / "blocker" / "cache" / "m.pt")
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    (tmp_path / "m.pt").mkdir()
    out = cache.cached("m.pt", lambda: small(1), {"a": 1})
    assert out.saved is False and (tmp_path / "m.pt").is_dir()
    assert "Is a directory" in _one_line_naming(capsys.readouterr().out, tmp_path / "m.pt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "m.pt"]


def test_a_real_full_disk(tmp_path, monkeypatch, capsys):
    """A real 8 KiB tmpfs (root only; skipped where mount is not allowed): ENOSPC, nothing left."""
    where = tmp_path / "tiny"
    where.mkdir()
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root on Linux")
    mount = ["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", str(where)]
    done = subprocess.run(mount, capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        monkeypatch.setenv("FMTUTOR_CACHE", str(where))
        out = cache.cached("m.pt", lambda: small(2, hidden=64, depth=2), {"a": 1})  # ~20 KB
        assert out.saved is False and _same(out.model, small(2, hidden=64, depth=2))
        line = _one_line_naming(capsys.readouterr().out, where / "m.pt")
        assert "No space left on device" in line
        assert list(where.iterdir()) == []
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def test_a_file_of_a_newer_fmtutor_is_kept_not_overwritten(tmp_path, monkeypatch, capsys):
    """Before: the newer file was silently replaced by this version's model."""
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    path = tmp_path / "m.pt"
    fio.save_model(small(9), path)
    payload = torch.load(path, weights_only=True)
    torch.save({**payload, "fmtutor_version": "99.0"}, path)
    newer = path.read_bytes()
    for retrain in (False, True):
        out = cache.cached_model(path, lambda: small(1), {"a": 1}, retrain=retrain)
        assert out.status == "trained" and out.saved is False and _same(out.model, small(1))
        line = _one_line_naming(capsys.readouterr().out, path)
        assert "99.0" in line and "not overwritten" in line
        assert path.read_bytes() == newer
    monkeypatch.setattr(cache, "MOONS_FILE", "m.pt")
    assert cache.save_moons_model(small(1)).saved is False and path.read_bytes() == newer


def test_chapter_5s_file_is_the_one_chapter_6_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    model, _ = _fast_moons(**ch05.MOONS_LOOP)
    kept = cache.save_moons_model(model, losses=[1.0], w2=0.1)  # (as if with the default loop)
    assert kept.saved and capsys.readouterr().out == ""  # chapter 5 prints its own line

    out = cache.moons_model()
    assert out.status == "loaded" and _same(out.model, model) and out.extra["w2"] == 0.1
    other = cache.save_moons_model(model, settings={"steps": 20})  # saved with other settings
    assert other.saved and other.extra["train_config"]["loop"]["steps"] == 20
    monkeypatch.setattr(ch05, "train_moons", _fast_moons)
    assert cache.moons_model(verbose=False).reason == "stale (trained with another configuration)"
    with pytest.raises(ValueError, match=r"settings: unknown keys \['stpes'\]"):
        cache.save_moons_model(model, settings={"stpes": 20})


CHAPTER_10 = """
import torch
import fmtutor as fm

RADIUS = {radius}
angles = torch.tensor([0.0, 2.1, 4.2])
means = RADIUS * torch.stack([angles.cos(), angles.sin()], 1)
g = torch.Generator().manual_seed(1)
labels = torch.randint(0, 3, (300,), generator=g)
pool = means[labels] + 0.6 * torch.randn(300, 2, generator=g)
RECIPE = dict(hidden={hidden}, depth=1, steps=5, seed=0)


def train():
    torch.manual_seed(RECIPE["seed"])
    model = fm.models.MLP(2, hidden=RECIPE["hidden"], depth=RECIPE["depth"], num_classes=3)
    fm.training.train_cfm(model, (pool, labels), steps=RECIPE["steps"], batch_size=64,
                          seed=RECIPE["seed"], progress=False)
    return model, {{"loss": 0.0}}


config = {{"chapter": 10, "data": "3 Gaussians", "steps": 5}}
result = cache.cached("10.pt", train, config, verbose=False)
"""


def _run_chapter(source: str) -> cache.CachedModel:
    """Run a chapter's cell the way a notebook does: its own ``__main__`` namespace."""
    namespace = {"__name__": "__main__", "cache": cache}
    exec(compile(textwrap.dedent(source), "<cell>", "exec"), namespace)
    return namespace["result"]


def test_editing_the_training_data_or_code_makes_the_cache_stale(tmp_path, monkeypatch):
    """Before: after editing chapter 10's classes the old model loaded, and a later check failed."""
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    first = _run_chapter(CHAPTER_10.format(radius=1.0, hidden=8))
    assert first.status == "trained"
    assert _run_chapter(CHAPTER_10.format(radius=1.0, hidden=8)).status == "loaded"
    moved = _run_chapter(CHAPTER_10.format(radius=2.0, hidden=8))  # the classes moved
    assert moved.status == "trained" and moved.reason == "stale (the training data changed)"
    wider = _run_chapter(CHAPTER_10.format(radius=2.0, hidden=16))  # the recipe in the code
    assert wider.status == "trained" and "changed" in wider.reason
    assert _run_chapter(CHAPTER_10.format(radius=2.0, hidden=16)).status == "loaded"


def test_a_closure_tensor_edited_in_place_or_explicit_data(tmp_path):
    path = tmp_path / "m.pt"
    pool = torch.randn(50, 2)
    calls = deque()

    def train():
        calls.append(1)
        return small(int(pool.abs().sum() > 0))

    assert cache.cached_model(path, train, {}, verbose=False).status == "trained"
    assert cache.cached_model(path, train, {}, verbose=False).status == "loaded"
    pool[0, 0] += 1.0
    again = cache.cached_model(path, train, {}, verbose=False)
    assert again.reason == "stale (the training data changed)" and len(calls) == 2
    hidden = {"x": torch.zeros(3)}  # data the fingerprint cannot see: passed explicitly
    assert cache.cached_model(path, train, {}, verbose=False, data=hidden).reason.startswith(
        "stale"
    )
    assert cache.cached_model(path, train, {}, verbose=False, data=hidden).status == "loaded"
    hidden["x"][1] = 2.0
    assert cache.cached_model(path, train, {}, verbose=False, data=hidden).reason == (
        "stale (the training data changed)"
    )


def test_an_edited_fmtutor_module_makes_the_cache_stale(tmp_path, monkeypatch):
    from fmtutor.course import _fingerprint as fp

    path = tmp_path / "m.pt"

    def train():
        model = fm.models.MLP(2, hidden=8, depth=1)
        fm.training.train_cfm(model, torch.randn(64, 2), steps=2, progress=False)
        return model

    assert cache.cached_model(path, train, {}, verbose=False).status == "trained"
    assert cache.cached_model(path, train, {}, verbose=False).status == "loaded"
    real = fp._module_hash
    monkeypatch.setattr(
        fp, "_module_hash", lambda n: real(n) + ("!" if n == "fmtutor.paths" else "")
    )
    out = cache.cached_model(path, train, {}, verbose=False)  # train_cfm uses fmtutor.paths
    assert out.reason == "stale (the training code changed)"


def test_a_cache_file_without_a_fingerprint_is_stale(tmp_path):
    path = tmp_path / "m.pt"
    fio.save_model(small(), path, train_config={"a": 1})  # as chapter 5 wrote it before
    out = cache.cached_model(path, small, {"a": 1}, verbose=False)
    assert out.status == "trained" and "without a fingerprint" in out.reason


_FINGERPRINT = """
import sys
for name in sys.argv[1:]:
    __import__(name)
from fmtutor.course import cache, ch05
from fmtutor.course._fingerprint import fingerprint
print(fingerprint(cache._train_moons))
"""


def test_the_fingerprint_does_not_depend_on_what_else_was_imported():
    """Chapter 6 must load chapter 5's file: the same code gives the same key in another kernel."""
    root = Path(__file__).resolve().parents[2]
    outs = {
        subprocess.run(
            [sys.executable, "-c", _FINGERPRINT, *extra],
            capture_output=True,
            text=True,
            cwd=root,
            check=True,
        ).stdout
        for extra in ([], ["fmtutor.course.ch05", "fmtutor.course.widgets", "fmtutor.digits"])
    }
    assert len(outs) == 1 and "code" in outs.pop()
