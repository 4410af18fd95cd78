"""The chapters' model cache: reload a model whose file fits its recipe, else train and save it."""

from __future__ import annotations

__all__ = [
    "cached",
    "moons_model",
    "save_moons_model",
    "canonical_config",
    "recipe_config",
    "fingerprint",
    "CachedModel",
    "cached_model",
    "MOONS_FILE",
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

from fmtutor.course import cache_dir, ch05
from fmtutor.course._fingerprint import fingerprint
from fmtutor.course.i18n import tr
from fmtutor.io import (
    ModelFileError,
    NewerModelFileError,
    _path,
    _plain,
    load_model,
    read_header,
    save_model,
)
from fmtutor.recipes import DEFAULT_2D

#: The file of chapter 5's model (moons_model, save_moons_model) in the cache folder.
MOONS_FILE = "moons_mlp.pt"


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
        extra: the extra values saved with it (including ``train_config`` and ``fingerprint``).
        status: 'loaded', or 'trained' when the cache was (re)built, 'given' for save_moons_model.
        reason: why it was retrained ('' when loaded): missing, unreadable, stale, forced.
        path: the cache file.
        saved: False when the model could not be written to ``path`` and lives in memory only.
    """

    model: nn.Module
    extra: dict[str, Any] = field(default_factory=dict)
    status: str = "loaded"
    reason: str = ""
    path: "Path | None" = None
    saved: bool = True

    def __iter__(self) -> Iterator[Any]:  # model, extra = cached_model(...)
        return iter((self.model, self.extra))


def _save(path: Path, model: nn.Module, extra: dict[str, Any]) -> str:
    """Write the cache file; '' when written, else why not (a newer file is never overwritten)."""
    try:
        read_header(path)
    except NewerModelFileError as e:
        return tr("{error}. It is kept, not overwritten", error=e)
    except ModelFileError:
        pass
    try:
        save_model(model, path, **extra)
    except OSError as e:  # read-only or full disk, a folder in the way: train again next time
        why = e.strerror or str(e)
        return (
            why
            if str(path) in why
            else tr("cannot write the model file {path}: {why}", path=path, why=why)
        )
    return ""


def cached_model(
    path: "str | os.PathLike[str]",
    train_fn: Callable[[], Any],
    config: Any,
    retrain: bool = False,
    verbose: bool = True,
    data: Any = None,
) -> CachedModel:
    """Load a trained model from ``path`` if it was trained with ``config``; else train and save it.

    The file is used only when it loads cleanly (see load_model), its stored ``train_config``
    equals ``config`` (compared with canonical_config) and its stored ``fingerprint`` equals
    ``fingerprint(train_fn, data)``: editing the training data or code makes the file stale.
    Otherwise ``train_fn()`` is called and its result written to ``path``. When the file cannot be
    written (read-only folder, full disk) or was written by a newer fmtutor, the trained model is
    returned all the same (``saved=False``) and one line says so.

    Args:
        path: the cache file (the chapters use ``notebooks/.cache/*.pt``, which git ignores).
        train_fn: no-argument function returning a model, or ``(model, extra_dict)``.
        config: the settings that determine the trained model (seed, recipe): a nested dict.
        retrain: train even when the cache is valid.
        verbose: print one line saying what happened.
        data: training data that train_fn receives in a way the fingerprint cannot see (it finds
            the tensors in train_fn's globals and closure by itself).

    Returns:
        CachedModel(model, extra, status, reason, path, saved); unpacks as ``model, extra``.
    """
    if not callable(train_fn):
        raise TypeError(
            f"train_fn: expected a function returning a model, got {type(train_fn).__name__}"
        )
    path = _path(path)
    key, prints = canonical_config(config), fingerprint(train_fn, data)
    reason = tr("forced") if retrain else ""
    try:
        model, extra = load_model(path)
    except NewerModelFileError:
        reason = reason or tr("the file is from a newer fmtutor")
    except ModelFileError as e:
        reason = reason or (
            tr("missing") if not path.exists() else tr("unreadable ({error})", error=e)
        )
    else:
        stored = extra.get("fingerprint")
        if retrain:
            pass
        elif canonical_config(extra.get("train_config")) != key:
            reason = tr("stale (trained with another configuration)")
        elif not isinstance(stored, dict):
            reason = tr("stale (an older cache file, without a fingerprint of its code and data)")
        elif stored != prints:
            changed = {k for k in ("data", "code") if stored.get(k) != prints[k]}
            if changed == {"data", "code"}:
                reason = tr("stale (the training data and code changed)")
            elif changed == {"data"}:
                reason = tr("stale (the training data changed)")
            else:
                reason = tr("stale (the training code changed)")
        else:
            if verbose:
                print(tr("loaded the trained model from {path}", path=path))
            return CachedModel(model, extra, "loaded", "", path)
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
    extra = {**extra, "train_config": json.loads(key), "fingerprint": prints}
    why = _save(path, model, extra)
    if verbose:
        print(
            tr("trained a model ({reason}) and saved it to {path}", reason=reason, path=path)
            if not why
            else tr(
                "trained a model ({reason}) but could not cache it: {why}; it stays in memory only",
                reason=reason,
                why=why,
            )
        )
    return CachedModel(model.eval(), _plain(extra, "extra"), "trained", reason, path, not why)


def cached(
    name: str, train_fn: Callable[[], Any], config: Any, verbose: bool = True, data: Any = None
) -> CachedModel:
    """``cached_model`` with the file ``name`` in the course's cache folder (``cache_dir()``)."""
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ValueError(f"name: expected a plain file name such as 'moons_mlp.pt', got {name!r}")
    return cached_model(cache_dir() / name, train_fn, config, verbose=verbose, data=data)


def _moons_config(settings: Any = None) -> dict[str, Any]:
    """The key of chapter 5's model: the settings of its loop (``ch05.MOONS_LOOP``, overridden)."""
    if settings is not None and not isinstance(settings, dict):
        raise TypeError(
            f"settings: expected a dict of chapter 5's loop settings, got {type(settings).__name__}"
        )
    unknown = sorted(set(settings or {}) - set(ch05.MOONS_LOOP))
    if unknown:
        raise ValueError(f"settings: unknown keys {unknown}; known are {sorted(ch05.MOONS_LOOP)}")
    return {
        "chapter": 5,
        "loop": json.loads(canonical_config({**ch05.MOONS_LOOP, **(settings or {})})),
    }


def _train_moons() -> tuple[nn.Module, dict[str, Any]]:
    model, losses = ch05.train_moons(**ch05.MOONS_LOOP, progress=True)  # a bar while it trains
    return model, {"losses": losses}


def moons_model(verbose: bool = True) -> CachedModel:
    """Chapter 5's model, ``ch05.train_moons(**ch05.MOONS_LOOP)``: cached, or trained."""
    return cached(MOONS_FILE, _train_moons, _moons_config(), verbose=verbose)


def save_moons_model(
    model: nn.Module, settings: "dict[str, Any] | None" = None, verbose: bool = True, **extra: Any
) -> CachedModel:
    """Keep chapter 5's model, trained in view, as the cache moons_model() then loads.

    Args:
        model: the model chapter 5's loop trained.
        settings: the loop's settings where they differ from ``ch05.MOONS_LOOP`` (a file saved
            with other settings is stale for moons_model, which then retrains).
        verbose: say so when the cache cannot be written (the result then has ``saved=False``).
        **extra: values stored with it (see save_model).
    """
    path = cache_dir() / MOONS_FILE
    extra = {
        **extra,
        "train_config": _moons_config(settings),
        "fingerprint": fingerprint(_train_moons),
    }
    why = _save(path, model, extra)
    if why and verbose:
        print(tr("could not cache the model: {why}; it stays in memory only", why=why))
    return CachedModel(model, _plain(extra, "extra"), "given", "", path, not why)
