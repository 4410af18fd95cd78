"""The chapters' model cache: reload a model whose file fits its recipe, else train and save it."""

from __future__ import annotations

__all__ = [
    "cached",
    "moons_model",
    "canonical_config",
    "recipe_config",
    "CachedModel",
    "cached_model",
]

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from fmtutor.course import cache_dir
from fmtutor.data import two_moons
from fmtutor.io import ModelFileError, _path, _plain, load_model, save_model
from fmtutor.recipes import DEFAULT_2D, train_2d


def canonical_config(config: Any) -> str:
    """A canonical JSON string of a (nested) configuration, used to compare a cache with a request.

    Tuples and lists compare equal, dictionary order does not matter, and non-JSON values (e.g. a
    function) are compared through their ``repr``.
    """
    return json.dumps(_plain_json(config), sort_keys=True)


def _plain_json(value: Any) -> Any:
    """``value`` with JSON types only: NumPy scalars as numbers, functions by name, else repr."""
    if isinstance(value, dict):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain_json(v) for v in value]
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if callable(value) and hasattr(value, "__qualname__"):
        return f"{getattr(value, '__module__', '')}.{value.__qualname__}"
    return repr(value)


def recipe_config(
    sampler: "str | Callable[..., Any]", seed: int = 0, **overrides: Any
) -> dict[str, Any]:
    """The configuration that determines ``fmtutor.recipes.train_2d(sampler, seed, **overrides)``.

    It includes the current ``fmtutor.recipes.DEFAULT_2D``, so a cache made before the recipe
    changed is stale.

    >>> recipe_config("two_moons", seed=1, steps=10)["overrides"]
    {'steps': 10}
    """
    name = sampler if isinstance(sampler, str) else getattr(sampler, "__name__", repr(sampler))
    return {
        "sampler": name,
        "seed": seed,
        "recipe": json.loads(canonical_config(DEFAULT_2D)),
        "overrides": json.loads(canonical_config(overrides)),
    }


@dataclass
class CachedModel:
    """What cached_model returns: the model, the extra values stored with it, and what happened.

    Attributes:
        model: the model (eval mode).
        extra: the extra values saved with it (including ``train_config``).
        status: 'loaded', or 'trained' when the cache was (re)built.
        reason: why it was retrained ('' when loaded): missing, unreadable, stale, forced.
        path: the cache file.
    """

    model: nn.Module
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "loaded"
    reason: str = ""
    path: "Path | None" = None

    def __iter__(self) -> Iterator[Any]:  # model, extra = cached_model(...)
        return iter((self.model, self.extra))


def cached_model(
    path: "str | os.PathLike[str]",
    train_fn: Callable[[], Any],
    config: Any,
    retrain: bool = False,
    verbose: bool = True,
) -> CachedModel:
    """Load a trained model from ``path`` if it was trained with ``config``; else train and save it.

    The file is used only when it loads cleanly (see load_model) and its stored ``train_config``
    equals ``config`` (compared with canonical_config). Otherwise ``train_fn()`` is called and its
    result written to ``path`` with ``train_config=config``.

    Args:
        path: the cache file (the chapters use ``notebooks/.cache/*.pt``, which git ignores).
        train_fn: no-argument function returning a model, or ``(model, extra_dict)``.
        config: everything that determines the trained model (data, seed, recipe): a nested dict.
        retrain: train even when the cache is valid.
        verbose: print one line saying what happened.

    Returns:
        CachedModel(model, extra, status, reason, path); unpacks as ``model, extra``.
    """
    if not callable(train_fn):
        raise TypeError(
            f"train_fn: expected a function returning a model, got {type(train_fn).__name__}"
        )
    path = _path(path)
    key = canonical_config(config)
    reason = "forced" if retrain else ""
    if not retrain:
        try:
            model, extra = load_model(path)
        except ModelFileError as e:
            reason = "missing" if not path.exists() else f"unreadable ({e})"
        else:
            if canonical_config(extra.get("train_config")) == key:
                if verbose:
                    print(f"loaded the trained model from {path}")
                return CachedModel(model, extra, "loaded", "", path)
            reason = "stale (trained with another configuration)"
    # training reseeds the global RNG and loading does not: keep them alike, so that a chapter's
    # later draws do not depend on whether the cache was hit
    with torch.random.fork_rng(devices=[]):
        out = train_fn()
    model, extra = out if isinstance(out, tuple) else (out, {})
    if not isinstance(extra, dict):
        raise TypeError(
            "train_fn: expected it to return a model or (model, dict), "
            f"got a {type(extra).__name__} second"
        )
    extra = {**extra, "train_config": json.loads(key)}
    save_model(model, path, **extra)
    if verbose:
        print(f"trained a model ({reason}) and saved it to {path}")
    return CachedModel(model.eval(), _plain(extra, "extra"), "trained", reason, path)


def cached(
    name: str, train_fn: Callable[[], Any], config: Any, verbose: bool = True
) -> CachedModel:
    """``cached_model`` with the file ``name`` in the course's cache folder (``cache_dir()``)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ValueError(f"name: expected a plain file name such as 'moons_mlp.pt', got {name!r}")
    return cached_model(cache_dir() / name, train_fn, config, verbose=verbose)


def moons_model(verbose: bool = True) -> CachedModel:
    """Chapter 5's model, ``train_2d(two_moons, seed=0)``: cached, or trained."""

    def train() -> tuple[nn.Module, dict[str, Any]]:
        model, res = train_2d(two_moons, seed=0)
        return model, {"losses": res.losses}

    return cached("moons_mlp.pt", train, recipe_config(two_moons, seed=0), verbose=verbose)
