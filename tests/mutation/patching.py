"""Monkeypatching that reaches every binding of a name inside fmtutor, and undoes itself.

A function imported with ``from .paths import conditional_velocity`` lives on in the importing module
(and in default arguments such as ``noise_floor(..., metric=wasserstein2)``, and in registries such
as ``data.SAMPLERS``): patching ``fmtutor.paths.conditional_velocity`` alone would leave those copies
unmutated. ``Patcher.function`` therefore replaces the function object wherever the fmtutor modules
loaded so far hold it: module attributes, values of module-level dicts, and functions' default
arguments; modules imported later bind the patched object themselves. Classes are shared
objects, so ``Patcher.attr`` on a class (``fm.solvers.Midpoint.step``) reaches every caller at once.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import types
from collections.abc import Callable
from typing import Any

__all__ = ["Patcher", "fmtutor_modules"]

_MISSING = object()


def fmtutor_modules(import_all: bool = False) -> list[types.ModuleType]:
    """The fmtutor modules loaded now (``import fmtutor`` loads every math module).

    A module imported *after* a patch (fmtutor.course in a chapter, a test module) binds the patched
    object by itself, so there is no need to import it first; ``import_all`` imports fmtutor.course
    and every submodule anyway (matplotlib, ipywidgets: a second or two).
    """
    import fmtutor

    if import_all:
        import fmtutor.course

        for pkg in (fmtutor, fmtutor.course):
            for info in pkgutil.iter_modules(pkg.__path__, pkg.__name__ + "."):
                importlib.import_module(info.name)
    return [
        m
        for name, m in sorted(sys.modules.items())
        if isinstance(m, types.ModuleType) and (name == "fmtutor" or name.startswith("fmtutor."))
    ]


class Patcher:
    """Records every change so that ``undo`` restores the package exactly."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    def attr(self, obj: Any, name: str, value: Any) -> Any:
        """Set ``obj.name = value`` (a class method, a module constant); returns the old value."""
        old = obj.__dict__.get(name, _MISSING) if hasattr(obj, "__dict__") else _MISSING
        if old is _MISSING:
            raise AttributeError(f"{obj!r} has no attribute {name!r} of its own to patch")
        setattr(obj, name, value)
        self._undo.append(lambda: setattr(obj, name, old))
        return old

    def item(self, mapping: dict, key: Any, value: Any) -> Any:
        """Set ``mapping[key] = value`` (e.g. a recipe setting); returns the old value."""
        old = mapping[key]
        mapping[key] = value
        self._undo.append(lambda: mapping.__setitem__(key, old))
        return old

    def function(self, module: types.ModuleType, name: str, new: Callable[..., Any]) -> Callable:
        """Replace the function ``module.name`` by ``new`` everywhere fmtutor holds it.

        Returns:
            The original function (for a mutant that wraps it).
        """
        old = getattr(module, name)
        found = 0
        for mod in fmtutor_modules():
            for attr, value in list(vars(mod).items()):
                if value is old:
                    self.attr(mod, attr, new)
                    found += 1
                elif isinstance(value, dict):
                    for key, item in list(value.items()):
                        if item is old:
                            self.item(value, key, new)
                elif isinstance(value, types.FunctionType):
                    self._defaults(value, old, new)
                elif isinstance(value, type):
                    for member in list(vars(value).values()):
                        if isinstance(member, types.FunctionType):
                            self._defaults(member, old, new)
        if not found:
            raise LookupError(f"{module.__name__}.{name} is bound nowhere in fmtutor")
        return old

    def _defaults(self, fn: types.FunctionType, old: Any, new: Any) -> None:
        if fn.__defaults__ and any(d is old for d in fn.__defaults__):
            before = fn.__defaults__
            fn.__defaults__ = tuple(new if d is old else d for d in before)
            self._undo.append(lambda: setattr(fn, "__defaults__", before))
        if fn.__kwdefaults__ and any(d is old for d in fn.__kwdefaults__.values()):
            before_kw = dict(fn.__kwdefaults__)
            fn.__kwdefaults__ = {k: new if d is old else d for k, d in before_kw.items()}
            self._undo.append(lambda: setattr(fn, "__kwdefaults__", before_kw))

    def undo(self) -> None:
        """Restore everything, last change first."""
        while self._undo:
            self._undo.pop()()
