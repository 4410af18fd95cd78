"""fmtutor.course.cache: the chapters' model cache trains once, reloads, and retrains when stale or broken."""

import json
from collections import deque

import numpy as np
import pytest
import torch

import fmtutor as fm
from fmtutor.course import cache
from fmtutor.models import MLP


def small(seed: int = 0, **kw) -> MLP:
    torch.manual_seed(seed)
    return MLP(hidden=kw.pop("hidden", 16), depth=kw.pop("depth", 2), **kw)


def test_cached_model_trains_loads_and_retrains_when_stale(tmp_path):
    path = tmp_path / ".cache" / "m.pt"
    calls = deque()  # a counter the cache's fingerprint does not read (a list would be)

    def train(seed: int = 0):
        calls.append(seed)
        return small(seed), {"losses": [1.0, 0.5]}

    cfg = {"data": "moons", "seed": 0, "recipe": {"steps": 10}}
    first = cache.cached_model(path, train, cfg, verbose=False)
    assert (first.status, first.reason, len(calls)) == ("trained", "missing", 1)
    second = cache.cached_model(
        path, train, {"recipe": {"steps": 10}, "seed": 0, "data": "moons"}, verbose=False
    )
    assert second.status == "loaded" and len(calls) == 1, (
        "same config (other key order) must reload"
    )
    x, t = torch.randn(20, 2), torch.rand(20)
    assert torch.equal(second.model(x, t), first.model(x, t))
    model, extra = second
    assert extra["losses"] == [1.0, 0.5] and extra["train_config"] == cfg

    def train1():
        return train(1)

    third = cache.cached_model(path, train1, {**cfg, "recipe": {"steps": 20}}, verbose=False)
    assert third.status == "trained" and third.reason.startswith("stale") and list(calls) == [0, 1]
    fourth = cache.cached_model(path, train1, {**cfg, "recipe": {"steps": 20}}, verbose=False)
    assert fourth.status == "loaded" and torch.equal(fourth.model(x, t), third.model(x, t))
    assert not torch.equal(fourth.model(x, t), first.model(x, t))


def test_cached_model_retrains_over_a_broken_file(tmp_path, capsys):
    path = tmp_path / "m.pt"
    path.write_bytes(b"garbage")
    out = cache.cached_model(path, small, {"a": 1})
    assert out.status == "trained" and out.reason.startswith("unreadable")
    assert "saved it to" in capsys.readouterr().out
    assert cache.cached_model(path, small, {"a": 1}, verbose=False).status == "loaded"
    assert cache.cached_model(path, small, {"a": 1}, retrain=True, verbose=False).reason == "forced"


def test_canonical_config_ignores_order_and_tuple_vs_list():
    assert cache.canonical_config(
        {"a": (1, 2), "b": {"y": 1, "x": np.float64(0.5)}}
    ) == cache.canonical_config({"b": {"x": 0.5, "y": 1}, "a": [1, 2]})
    assert cache.canonical_config({"a": 1}) != cache.canonical_config({"a": 2})


def test_cached_writes_into_cache_dir_and_loads_on_the_second_call(monkeypatch, tmp_path):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path / "models"))
    calls = deque()  # a counter the cache's fingerprint does not read (a list would be)

    def train():
        calls.append(1)
        return small(3), {"losses": [2.0, 1.0]}

    first = cache.cached("m.pt", train, {"steps": 2}, verbose=False)
    assert first.status == "trained" and first.path == tmp_path / "models" / "m.pt"
    assert (tmp_path / "models" / "m.pt").is_file() and list(calls) == [1]
    second = cache.cached("m.pt", train, {"steps": 2}, verbose=False)
    assert second.status == "loaded" and list(calls) == [1] and second.extra["losses"] == [2.0, 1.0]
    x = torch.randn(5, 2)
    assert torch.equal(second.model(x, 0.5), first.model(x, 0.5))


@pytest.mark.parametrize("name", ["sub/m.pt", "..\\m.pt", "", None])
def test_cached_refuses_a_name_that_is_not_a_plain_file_name(name, monkeypatch, tmp_path):
    monkeypatch.setenv("FMTUTOR_CACHE", str(tmp_path))
    with pytest.raises(ValueError, match="name: expected a plain file name"):
        cache.cached(name, small, {}, verbose=False)
    assert not any(tmp_path.iterdir())


def test_recipe_config_names_the_sampler_and_holds_the_current_recipe():
    by_name = cache.recipe_config("two_moons", seed=2, steps=10)
    assert by_name == cache.recipe_config(fm.data.two_moons, seed=2, steps=10)
    assert by_name["recipe"] == json.loads(cache.canonical_config(fm.recipes.DEFAULT_2D))
    assert by_name["seed"] == 2 and by_name["overrides"] == {"steps": 10}
    assert cache.recipe_config("two_moons", seed=3) != cache.recipe_config("two_moons", seed=2)


def test_long_work_shows_progress_on_stderr_never_stdout(capsys, monkeypatch):
    """Chapter 5's loop (what moons_model trains on a first run) and chapter 6's quality-vs-NFE
    study show a progress bar when asked: tqdm's, a widget in a notebook and stderr elsewhere, so
    nothing lands in the stdout a chapter's snapshot records. moons_model's training asks for it."""
    import torch

    import fmtutor as fm
    from fmtutor.course import cache, ch05

    ch05.train_moons(steps=3, batch_size=8, progress=True)
    fm.convergence.quality_vs_nfe(lambda x, t: -x, torch.randn(20, 2), nfe=(4,), progress=True)
    out = capsys.readouterr()
    assert "training" in out.err and "quality vs NFE" in out.err and out.out == ""
    ch05.train_moons(steps=3, batch_size=8)  # off unless asked
    fm.convergence.quality_vs_nfe(lambda x, t: -x, torch.randn(20, 2), nfe=(4,))
    assert capsys.readouterr().err == ""
    asked = {}
    monkeypatch.setattr(ch05, "train_moons", lambda **kw: asked.update(kw) or (None, None))
    cache._train_moons()
    assert asked.get("progress") is True
