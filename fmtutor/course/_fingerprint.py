"""Fingerprints of a training function (cache.fingerprint): hashes of the code and data it reads."""

from __future__ import annotations

__all__ = ["fingerprint"]

import dis
import functools
import hashlib
import inspect
import os
import sys
import sysconfig
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

_LIBS = tuple(
    {os.path.realpath(p) for p in (*sysconfig.get_paths().values(), sys.prefix, sys.base_prefix)}
)
_MODULE_HASHES: dict[tuple[str, str, float], str] = {}


def _is_fmtutor(module: str) -> bool:
    return module == "fmtutor" or module.startswith("fmtutor.")


def _is_package(v: Any) -> bool:
    """An fmtutor package or a package of the course's own (not an installed library)."""
    return isinstance(v, types.ModuleType) and hasattr(v, "__path__") and not _is_library(v)


def _contents(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name not yet assigned)
        return None


def _is_library(obj: Any) -> bool:
    """Whether ``obj`` comes from the standard library or an installed package (not fmtutor)."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    else:
        name = getattr(obj, "__module__", None) or ""
    if _is_fmtutor(name) or name == "__main__":  # fmtutor, or a notebook's own code
        return False
    file = getattr(sys.modules.get(name), "__file__", None)
    return file is None or os.path.realpath(file).startswith(_LIBS)


def _module_hash(name: str) -> str:
    """SHA-256 of an imported module's source file, once per file version."""
    file = getattr(sys.modules.get(name), "__file__", None) or ""
    key = (name, file, os.stat(file).st_mtime if os.path.isfile(file) else 0.0)
    if key not in _MODULE_HASHES:
        raw = Path(file).read_bytes() if os.path.isfile(file) else name.encode()
        _MODULE_HASHES[key] = hashlib.sha256(raw).hexdigest()
    return _MODULE_HASHES[key]


class _Walk:
    """Hash what a training function reads: its code (sources, plain values) and its data."""

    def __init__(self) -> None:
        self.code, self.data = hashlib.sha256(), hashlib.sha256()
        self.modules: set[str] = set()
        self.kept: dict[int, Any] = {}  # id -> object, kept alive so that ids stay unique

    def module(self, name: str) -> None:
        """Add an fmtutor module and, transitively, the fmtutor modules it uses."""
        m = sys.modules.get(name)
        if name in self.modules or m is None:
            return
        self.modules.add(name)
        for v in list(vars(m).values()):
            if isinstance(v, types.ModuleType):  # not a package, nor a submodule set by an import
                sub = v.__name__.startswith(name + ".")
                if _is_fmtutor(v.__name__) and not hasattr(v, "__path__") and not sub:
                    self.module(v.__name__)
            elif isinstance(v, (type, types.FunctionType)) and _is_fmtutor(v.__module__ or ""):
                self.module(v.__module__)

    def value(self, v: Any, depth: int = 0) -> None:
        if v is None or isinstance(v, (bool, int, float, complex, str, bytes)):
            self.code.update(f"{type(v).__name__}:{v!r};".encode())
            return
        if depth > 8 or id(v) in self.kept:
            return
        self.kept[id(v)] = v
        if isinstance(v, torch.Generator):
            v = v.get_state()
        if isinstance(v, (torch.Tensor, np.ndarray)):
            try:
                a = v.detach().cpu().numpy() if isinstance(v, torch.Tensor) else v
                self.data.update(f"{a.dtype}{a.shape}".encode() + np.ascontiguousarray(a).tobytes())
            except Exception:  # sparse, meta, object arrays: their description only
                self.data.update(repr(v).encode())
        elif isinstance(v, nn.Module):
            self.value(type(v))
            self.value(dict(v.state_dict()), depth + 1)
        elif isinstance(v, types.ModuleType):
            if _is_fmtutor(v.__name__):
                self.module(v.__name__)
            elif not _is_library(v):  # the course's own helper file beside a notebook
                self.code.update(_module_hash(v.__name__).encode())
        elif isinstance(v, types.FunctionType):
            self.function(v, depth)
        elif isinstance(v, (types.MethodType, functools.partial)):
            for part in (getattr(v, "__func__", None), getattr(v, "__self__", None)):
                self.value(part, depth + 1)
            for part in (
                getattr(v, "func", None),
                getattr(v, "args", ()),
                getattr(v, "keywords", {}),
            ):
                self.value(part, depth + 1)
        elif isinstance(v, type):
            if _is_fmtutor(v.__module__):
                self.module(v.__module__)
            elif not _is_library(v):
                self.code.update(v.__qualname__.encode())
                for k in sorted(vars(v)):
                    self.value(vars(v)[k], depth + 1)
        elif isinstance(v, dict):
            for k in sorted(v, key=repr):
                self.code.update(repr(k).encode())
                self.value(v[k], depth + 1)
        elif isinstance(v, (list, tuple, set, frozenset)):
            items = sorted(v, key=repr) if isinstance(v, (set, frozenset)) else v
            self.code.update(f"{type(v).__name__}{len(v)}".encode())
            for item in items:
                self.value(item, depth + 1)
        elif hasattr(v, "__dict__") and not _is_library(type(v)):
            self.value(type(v), depth + 1)
            self.value(vars(v), depth + 1)
        elif hasattr(v, "__dict__"):  # a library's object (e.g. a TensorDataset): its data only
            self.tensors(vars(v), depth + 1)

    def tensors(self, v: Any, depth: int) -> None:
        """Add the tensors and arrays held by a library's object, and nothing else."""
        if depth > 8 or id(v) in self.kept:
            return
        if isinstance(v, (torch.Tensor, np.ndarray)):
            self.value(v, depth)
            return
        self.kept[id(v)] = v
        if isinstance(v, dict):
            for k in sorted(v, key=repr):
                self.tensors(v[k], depth + 1)
        elif isinstance(v, (list, tuple)):
            for item in v:
                self.tensors(item, depth + 1)
        elif hasattr(v, "__dict__") and not isinstance(v, (type, types.ModuleType)):
            self.tensors(vars(v), depth + 1)

    def function(self, f: types.FunctionType, depth: int) -> None:
        """Add a function: its source, the globals it reads, its closure and its defaults."""
        if _is_library(f):
            return
        for v in (*map(_contents, f.__closure__ or ()), f.__defaults__, f.__kwdefaults__):
            self.value(v, depth + 1)
        if _is_fmtutor(f.__module__ or ""):
            self.module(f.__module__)
            return
        try:
            self.code.update(inspect.getsource(f).encode())
        except (OSError, TypeError):  # no source (e.g. exec'd code): its bytecode instead
            self.code.update(_bytecode(f.__code__))
        names, attrs = _names(f.__code__)
        found = [f.__globals__[n] for n in sorted(names) if n in f.__globals__]
        while found:
            v = found.pop(0)
            if _is_package(v) and id(v) not in self.kept:
                self.kept[id(v)] = v  # a package (`fm`): follow only the attributes used
                found += [getattr(v, a) for a in sorted(attrs) if hasattr(v, a)]
            else:
                self.value(v, depth + 1)

    def digests(self) -> dict[str, str]:
        for name in sorted(self.modules):
            self.code.update(f"{name}:{_module_hash(name)};".encode())
        return {"code": self.code.hexdigest()[:20], "data": self.data.hexdigest()[:20]}


def _bytecode(code: types.CodeType) -> bytes:
    """A code object's instructions, names and constants (nested code objects included)."""
    consts = [
        _bytecode(c) if isinstance(c, types.CodeType) else repr(c).encode() for c in code.co_consts
    ]
    return code.co_code + repr(code.co_names).encode() + b"|".join(consts)


def _names(code: types.CodeType) -> tuple[set[str], set[str]]:
    """The global names and the attribute names a code object (and those nested in it) reads."""
    names, attrs = set(), set()
    for ins in dis.get_instructions(code):
        if ins.opname in ("LOAD_GLOBAL", "LOAD_NAME"):
            names.add(str(ins.argval))
        elif ins.opname in ("LOAD_ATTR", "LOAD_METHOD"):
            attrs.add(str(ins.argval))
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            n, a = _names(c)
            names |= n
            attrs |= a
    return names, attrs


def fingerprint(train_fn: Callable[..., Any], data: Any = None) -> dict[str, str]:
    """Short hashes of the code and the data a training function uses: what config cannot see.

    ``code`` hashes the source of ``train_fn`` and of the functions and classes it reads (through
    its globals, closure and defaults, recursively), the plain values they read (numbers,
    strings, dicts of them), and the source files of every fmtutor module they use, with the
    fmtutor modules those import. ``data`` hashes every tensor, NumPy array, torch Generator state
    and network weight found on the way, plus ``data`` (tensors or containers of them) if given.
    Installed libraries (torch, numpy, ...) are not followed.
    """
    if not callable(train_fn):
        raise TypeError(f"train_fn: expected the training function, got {type(train_fn).__name__}")
    walk = _Walk()
    walk.value(train_fn)
    walk.value(data)
    return walk.digests()
