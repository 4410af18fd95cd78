"""fmtutor.course.setup: one call seeds torch, pins threads, picks the device; cache_dir() follows FMTUTOR_CACHE."""

from pathlib import Path

import matplotlib
import pytest
import torch

from fmtutor.course import Setup, cache_dir, setup


@pytest.fixture(autouse=True)
def _restore(monkeypatch):
    """setup() changes process-wide state: torch's threads, FMTUTOR_DEVICE, matplotlib's dpi. Undo it."""
    threads = torch.get_num_threads()
    monkeypatch.setenv("FMTUTOR_DEVICE", "cpu")  # monkeypatch restores the variable as it was
    with matplotlib.rc_context():
        yield
    torch.set_num_threads(threads)


def test_setup_seeds_torch():
    setup(seed=3, verbose=False)
    a = torch.rand(4)
    setup(seed=3, verbose=False)
    assert torch.equal(a, torch.rand(4))
    setup(seed=4, verbose=False)
    assert not torch.equal(a, torch.rand(4))


def test_setup_sets_threads_device_dpi_and_says_so(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    chosen = setup(seed=1, threads=2, device="cpu", dpi=50)
    assert torch.get_num_threads() == 2 and chosen.threads == 2
    assert chosen == Setup(1, 2, "cpu", tmp_path)
    import os

    assert os.environ["FMTUTOR_DEVICE"] == "cpu"
    assert matplotlib.rcParams["figure.dpi"] == 50
    out = capsys.readouterr().out
    assert (
        out.count("\n") == 1
        and "seed 1" in out
        and "2 CPU thread(s)" in out
        and "device cpu" in out
    )
    setup(threads=1, verbose=False)
    assert torch.get_num_threads() == 1 and capsys.readouterr().out == ""


def test_auto_leaves_the_choice_to_default_device():
    import os

    import fmtutor as fm

    chosen = setup(device="auto", verbose=False)
    assert "FMTUTOR_DEVICE" not in os.environ
    assert chosen.device == str(fm.default_device())


@pytest.mark.parametrize(
    "kwargs,error,name",
    [
        ({"seed": "0"}, TypeError, "seed"),
        ({"seed": True}, TypeError, "seed"),
        ({"threads": 0}, ValueError, "threads"),
        ({"threads": 1.5}, ValueError, "threads"),
        ({"device": "gpu"}, ValueError, "device"),
        ({"lang": "fr"}, ValueError, "lang"),
        ({"lang": "zh-CN"}, ValueError, "lang"),
    ],
)
def test_setup_refuses_bad_arguments_naming_them(kwargs, error, name):
    with pytest.raises(error, match=rf"^{name}: expected .* got"):
        setup(verbose=False, **kwargs)


def test_cache_dir_honours_fmtutor_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path / "models"))
    assert cache_dir() == tmp_path / "models"
    monkeypatch.delenv("FMTUTOR_CACHE")
    assert cache_dir() == Path(".cache")


def test_a_translated_chapter_shares_the_english_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("FMTUTOR_CACHE", raising=False)
    (tmp_path / "notebooks" / "zh").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "notebooks" / "zh")
    assert cache_dir() == Path("..") / ".cache"
    assert cache_dir().resolve() == (tmp_path / "notebooks" / ".cache").resolve()
    monkeypatch.chdir(tmp_path / "notebooks")
    assert cache_dir() == Path(".cache")
