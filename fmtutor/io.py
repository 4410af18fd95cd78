"""Save and load trained velocity models, with checks that never return a silently wrong model.

A model file is a ``torch.save`` dictionary holding the format name and version, the fmtutor
version that wrote it, the model's class name, its constructor ``config`` (``MLP.config``), its
``state_dict`` and any extra values (a training configuration, a loss history). Loading rebuilds
the model from its config and loads the state *strictly*: a missing, truncated or mismatched file
raises a ``ModelFileError`` (a ``ValueError``) that names the file and says what is wrong.

The chapters' model cache, built on these two functions, is ``fmtutor.course.cache``.

>>> import tempfile, pathlib
>>> from fmtutor.models import MLP
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.pt"
>>> save_model(MLP(hidden=8, depth=1), path, note="demo")
>>> model, extra = load_model(path)
>>> type(model).__name__, extra["note"]
('MLP', 'demo')
"""

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_CLASSES",
    "ModelFileError",
    "NewerModelFileError",
    "save_model",
    "load_model",
    "read_header",
]

import hashlib
import inspect
import io
import os
import re
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ._version import __version__
from .models import MLP

#: Name written into every file, so that an unrelated ``.pt`` file is recognised as such.
FORMAT = "fmtutor-model"
#: Bump when the layout of the dictionary changes; files of another version are refused.
FORMAT_VERSION = 1
#: Classes that ``load_model`` may rebuild: name -> class taking ``**config``.
MODEL_CLASSES: dict[str, type[nn.Module]] = {"MLP": MLP}

_REQUIRED = (
    "format",
    "format_version",
    "fmtutor_version",
    "class",
    "config",
    "state_dict",
    "extra",
)


class ModelFileError(ValueError):
    """A model file missing, unreadable, truncated, of another version or wrong for its model.

    A ``ValueError``, so callers that catch bad input catch it too.
    """


class NewerModelFileError(ModelFileError):
    """A model file written by a newer fmtutor (or file format): keep it, do not overwrite it."""


def _version() -> str:
    return __version__


def _release(version: Any) -> tuple[int, ...]:
    """The leading numbers of a version string: '0.10.1rc1' -> (0, 10, 1); () if none."""
    m = re.match(r"\d+(\.\d+)*", str(version))
    return tuple(int(p) for p in m.group(0).split(".")) if m else ()


def _plain(value: Any, name: str) -> Any:
    """Convert extra values to types ``torch.load(weights_only=True)`` accepts.

    NumPy arrays become tensors and NumPy scalars Python numbers; ``name`` is used in errors.
    """
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value))
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        if not all(isinstance(k, str) for k in value):
            raise TypeError(
                f"{name}: dictionary keys must be strings, got {sorted(map(repr, value))}"
            )
        return {k: _plain(v, f"{name}[{k!r}]") for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{name}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"{name}: cannot store a {type(value).__name__}; use numbers, strings, lists, dicts, "
        "tensors or NumPy arrays"
    )


def save_model(model: nn.Module, path: "str | os.PathLike[str]", **extra: Any) -> None:
    """Write a model, its constructor config and extra values to ``path`` (creating its folder).

    The file is written to a temporary file of a unique name and renamed, so an interrupted save
    never leaves a half-written file under ``path``, a concurrent reader sees the old file or the
    new one, and concurrent saves to the same path do not collide.

    Args:
        model: a model whose class is in MODEL_CLASSES and that has a ``config`` dict (e.g. MLP).
        path: the file to write (by convention ``*.pt``).
        **extra: values stored alongside (numbers, strings, lists, dicts, tensors, NumPy arrays),
            returned by load_model; e.g. ``train_config=...`` (see cached_model) or ``losses=...``.

    Raises:
        OSError: the file cannot be written (read-only or full disk, a folder in the way); the
            message names the file, ``errno`` is the original one, and no temporary file remains.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    name = type(model).__name__
    if MODEL_CLASSES.get(name) is not type(model):
        raise TypeError(
            f"model: cannot save a {name}; known classes are {sorted(MODEL_CLASSES)} "
            "(add yours to MODEL_CLASSES)"
        )
    config = getattr(model, "config", None)
    if not isinstance(config, dict):
        raise TypeError(
            f"model: a {name} needs a `config` dict (its constructor arguments) to be saved"
        )
    path = _path(path)
    state = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    bad = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ValueError(
            f"model: expected finite weights, got NaN or inf in {bad} (did training diverge?)"
        )
    payload = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "fmtutor_version": _version(),
        "class": name,
        "config": _plain(config, "model.config"),
        "state_dict": state,
        "checksum": _checksum(state),
        "extra": _plain(extra, "extra"),
    }
    buffer = io.BytesIO()  # serialise first: a full disk then fails in a plain write, not in C++
    torch.save(payload, buffer)
    _write_atomically(path, buffer.getbuffer())


def _write_atomically(path: Path, data: "bytes | memoryview") -> None:
    """Write ``data`` to a temporary file of a unique name beside ``path``, then rename it.

    The rename is atomic: a concurrent reader sees the old file or the new one, never half of one,
    and concurrent writers never share a temporary file. On any failure the temporary file is
    removed and an OSError naming ``path`` (with the original errno) is raised.
    """
    tmp = path.with_name(f"{path.name}.{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(e, OSError):
            why = f"cannot write the model file {path}: {e.strerror or e}"
            raise (OSError(e.errno, why) if e.errno else OSError(why)) from e
        raise


def _path(path: Any) -> Path:
    """``path`` as a Path, or a TypeError when it is not a non-empty str or os.PathLike."""
    if not isinstance(path, (str, os.PathLike)) or str(path) == "":
        raise TypeError(
            "path: expected a file path (a str or pathlib.Path), "
            f"got {type(path).__name__} {path!r:.60}"
        )
    return Path(path)


def _checksum(state: dict[str, Any]) -> str:
    """SHA-256 of the weights (names, dtypes, shapes and bytes): a flipped bit shows on load."""
    h = hashlib.sha256()
    for k in sorted(state):
        v = state[k].detach().cpu().contiguous()
        h.update(f"{k}|{v.dtype}|{tuple(v.shape)}|".encode())
        h.update(v.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def read_header(path: "str | os.PathLike[str]", check_version: bool = True) -> dict[str, Any]:
    """Read and validate a model file; return its dictionary (state_dict still as tensors).

    Raises:
        ModelFileError: if the file is missing, unreadable (e.g. truncated), not an fmtutor model
            file, of another format version or (with check_version) written by another fmtutor
            version; a NewerModelFileError when that version is newer than this one.
    """
    path = _path(path)
    if not path.is_file():
        raise ModelFileError(f"{path}: no such model file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # zip errors, EOF, unpickling errors: all mean "not a readable file"
        raise ModelFileError(
            f"{path}: cannot read the model file (truncated or corrupted?): {type(e).__name__}: {e}"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ModelFileError(f"{path}: not an fmtutor model file (no '{FORMAT}' marker)")
    missing = [k for k in _REQUIRED if k not in payload]
    if missing:
        raise ModelFileError(f"{path}: incomplete model file, missing entries {missing}")
    fmt, version = payload["format_version"], payload["fmtutor_version"]
    if fmt != FORMAT_VERSION:
        newer = isinstance(fmt, int) and fmt > FORMAT_VERSION
        raise (NewerModelFileError if newer else ModelFileError)(
            f"{path}: written in file format version {fmt}, "
            f"this fmtutor reads version {FORMAT_VERSION}; "
            + ("update fmtutor to read it" if newer else "re-create the file")
        )
    if check_version and version != _version():
        newer = _release(version) > _release(_version())
        raise (NewerModelFileError if newer else ModelFileError)(
            f"{path}: written by fmtutor {version}, this is fmtutor {_version()}; "
            + ("a newer version: update fmtutor" if newer else "re-create the file")
            + " (or pass check_version=False)"
        )
    return payload


def load_model(
    path: "str | os.PathLike[str]",
    check_version: bool = True,
    device: "torch.device | str | None" = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by save_model.

    Args:
        path: the file.
        check_version: refuse files written by another fmtutor version.
        device: where to put the model (default CPU).

    Returns:
        (model in eval mode, extra dict).

    Raises:
        ModelFileError: missing/truncated/foreign file, other version, unknown class, a config the
            class rejects, or a state_dict whose keys or shapes do not match the rebuilt model.
    """
    path = _path(path)
    payload = read_header(path, check_version)
    name, config = payload["class"], payload["config"]
    if name not in MODEL_CLASSES:
        raise ModelFileError(
            f"{path}: unknown model class {name!r}; known classes are {sorted(MODEL_CLASSES)}"
        )
    if not isinstance(config, dict):
        raise ModelFileError(
            f"{path}: the model config should be a dict, got {type(config).__name__}"
        )
    params = [
        p.name
        for p in inspect.signature(MODEL_CLASSES[name]).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    missing = sorted(set(params) - set(config))
    if missing:  # a default filled in silently could differ from what was trained
        raise ModelFileError(f"{path}: incomplete model config, missing {missing} of {name}")
    try:
        # the initial weights are overwritten: do not consume the global RNG
        with torch.random.fork_rng(devices=[]):
            model = MODEL_CLASSES[name](**config)
    except (TypeError, ValueError) as e:
        raise ModelFileError(
            f"{path}: {name}(**config) rejected the stored config {config}: {e}"
        ) from e
    state = payload["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(
            f"{path}: the stored weights should be a dict of tensors, got {type(state).__name__}"
        )
    want, got = set(model.state_dict()), set(state)
    if want != got:
        raise ModelFileError(
            f"{path}: the stored weights do not fit {name}(**{config}): "
            f"missing {sorted(want - got)}, unexpected {sorted(got - want)}"
        )
    bad = [
        f"{k}: {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in model.state_dict().items()
        if tuple(state[k].shape) != tuple(v.shape)
    ]
    if bad:
        raise ModelFileError(
            f"{path}: the stored weights have the wrong shapes for {name}(**{config}): {bad}"
        )
    if "checksum" in payload and payload["checksum"] != _checksum(state):
        raise ModelFileError(
            f"{path}: the stored weights do not match their checksum: the file is corrupted; "
            "re-create it"
        )
    nonfinite = [
        k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())
    ]
    if nonfinite:
        raise ModelFileError(f"{path}: the stored weights contain NaN or inf in {nonfinite}")
    dtypes = {v.dtype for v in state.values() if v.is_floating_point()}
    if len(dtypes) == 1:  # a float64 model comes back as float64, not silently rounded to float32
        model.to(dtype=dtypes.pop())
    model.load_state_dict(state, strict=True)
    if device is not None:
        model.to(device)
    return model.eval(), payload["extra"]
