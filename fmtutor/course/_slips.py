"""What is wrong with an exercise's result before its values are compared: type, shape, dtype."""

from __future__ import annotations

__all__ = ["slip", "leaves"]

from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from fmtutor.course.i18n import tr

# a private reference, taken at import: patching torch.isfinite later does not change a verdict
_isfinite = torch.isfinite


def leaves(args: tuple) -> list[Tensor]:
    """Tensors a gradient should reach: parameters of nn.Module arguments, requires_grad inputs."""
    out = [a for a in args if isinstance(a, Tensor) and a.requires_grad]
    return out + [p for a in args if isinstance(a, nn.Module) for p in a.parameters()]


def _dtype_ok(got: Tensor, want: Tensor, args: tuple) -> bool:
    """The reference's dtype kind; for floats its precision or a floating input's."""
    if want.is_floating_point():
        floats = {a.dtype for a in args if isinstance(a, Tensor) and a.is_floating_point()}
        return got.dtype in floats | {want.dtype}
    if want.dtype == torch.bool:
        return got.dtype == torch.bool
    return not (got.is_floating_point() or got.is_complex() or got.dtype == torch.bool)


def _shape_hint(g: tuple[int, ...], w: tuple[int, ...], same_size: bool) -> str:
    if len(g) > 1 and g == w[::-1]:
        return tr("It is transposed.")
    if len(g) == 2 and g[0] == g[1] and len(w) in (1, 2) and w[0] == g[0]:
        return tr("A (B, B) result: a (B,) tensor broadcast against a (B, 1) one.")
    if len(g) < len(w):
        return tr("An axis is missing: a sum or mean over an axis that should stay (keepdim=True)?")
    if len(g) > len(w):
        return tr("One axis too many: a missing sum or mean, or an extra None / unsqueeze?")
    if same_size:
        return tr(
            "Same number of entries, arranged differently: check your reshape / view / permute."
        )
    return tr("Check your broadcasting (t has shape (B, 1)) and reductions.")


def _dtype_why(got: Tensor, want: Tensor) -> str:
    if want.is_floating_point() and got.dtype == torch.float64:
        return tr("a float64 NumPy array or torch.tensor(..., dtype=torch.float64) crept in")
    if want.is_floating_point() and got.is_floating_point():
        return tr("a lower precision loses digits")
    if want.is_floating_point():
        return tr("integer or boolean arithmetic (e.g. torch.arange(3), a comparison): use floats")
    return tr("indices and counts must be integers (e.g. torch.argmin, .long())")


def slip(got: Any, want: Tensor, args: tuple) -> "tuple[str, str] | None":
    """(status, message) when ``got`` is not a finite tensor like the reference's, else None."""
    shape, kind = tuple(want.shape), type(got).__name__
    if isinstance(got, (np.ndarray, np.generic)):
        return "numpy", tr(
            "you returned a NumPy {kind}, not a torch tensor: use torch functions (torch.sin, "
            "torch.exp, ...) rather than np.*, and no .numpy(); the rest of the chapter needs a "
            "tensor (and its gradient).",
            kind=kind,
        )
    if isinstance(got, (bool, int, float, complex)):
        return "number", tr(
            "you returned a Python {kind}, not a tensor of shape {shape}: .item(), float(...) or "
            "math.* turn a tensor into a plain number and cut it off from autograd; return the "
            "tensor itself.",
            kind=kind,
            shape=shape,
        )
    if type(got) not in (Tensor, nn.Parameter):  # a list, a string, a tensor subclass
        return "type", tr(
            "expected a torch tensor of shape {shape}, got a {kind}.", shape=shape, kind=kind
        )
    if got.is_complex() and not want.is_complex():
        return "complex", tr(
            "your result is complex ({dtype}), the expected one is real: a square root or power of "
            "a negative number, or a 1j, crept in.",
            dtype=got.dtype,
        )
    if not bool(_isfinite(got).all()):
        return "nan", tr(
            "your output contains NaN or inf: a division by zero (t = 1?) or a log of 0?"
        )
    if got.shape != want.shape:
        hint = _shape_hint(tuple(got.shape), shape, got.numel() == want.numel())
        return "shape", tr(
            "wrong shape: expected {want}, got {got}. {hint}",
            want=shape,
            got=tuple(got.shape),
            hint=hint,
        )
    if not _dtype_ok(got, want, args):
        return "dtype", tr(
            "wrong dtype: expected {want}, got {got}: {why}.",
            want=want.dtype,
            got=got.dtype,
            why=_dtype_why(got, want),
        )
    if want.requires_grad and not got.requires_grad and leaves(args):
        return "grad", tr(
            "your result carries no gradient to the model's parameters, so training could not "
            "learn from it: .item(), .detach(), .numpy(), torch.no_grad() or torch.tensor(...) of "
            "a result cut it off. Compute it with torch operations on the model's output."
        )
    return None
