"""Input checks shared by every public function: clear errors that name the argument."""

__all__ = [
    "as_tensor",
    "check_finite",
    "check_points",
    "check_time",
    "times_like",
    "check_unit_interval",
    "check_finite_and_times",
    "check_same_shape",
    "check_positive_int",
    "check_callable",
    "check_number",
    "check_labels",
    "check_pool",
    "check_noise_pool",
]

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor


def as_tensor(
    value: Any,
    name: str,
    like: Tensor | None = None,
    dtype: torch.dtype | None = None,
    finite: bool = False,
) -> Tensor:
    """Turn a tensor, NumPy array, list or number into a floating tensor.

    Args:
        value: what the caller passed.
        name: the argument's name, used in the error message.
        like: if given, the result takes its device and (floating) dtype.
        dtype: an explicit floating dtype (overrides ``like``).
        finite: raise a ValueError naming ``name`` if any entry is NaN or infinite.

    Returns:
        A floating-point tensor (float32 unless the input was float64 or ``like`` says otherwise).
    """
    if value is None:
        raise TypeError(
            f"{name}: expected a tensor or array, got None "
            "(did an exercise function forget to return?)"
        )
    if isinstance(value, Tensor):
        out = value
    elif isinstance(value, (np.ndarray, list, tuple, float, int, np.floating, np.integer)):
        arr = np.asarray(value)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise TypeError(f"{name}: expected numbers, got an array of dtype {arr.dtype}")
        # NumPy data lives on the CPU
        out = torch.as_tensor(arr, device=like.device if like is not None else "cpu")
    else:
        raise TypeError(
            f"{name}: expected a torch.Tensor or NumPy array, got {type(value).__name__}"
        )
    if out.is_complex():
        raise TypeError(f"{name}: expected real numbers, got dtype {out.dtype}")
    if dtype is None:
        if like is not None and like.is_floating_point():
            dtype = like.dtype
        elif out.is_floating_point():
            dtype = out.dtype
        else:
            dtype = torch.get_default_dtype()
    device = like.device if like is not None else out.device
    out = out.to(device=device, dtype=dtype)
    if finite:
        check_finite(out, name)
    return out


def check_finite(x: Tensor, name: str) -> Tensor:
    """Raise a ValueError naming ``name`` if x holds NaN or inf (a diverged run, say); return x."""
    if x.device.type != "meta" and x.numel() and not bool(torch.isfinite(x).all()):
        n_nan, n_inf = int(torch.isnan(x).sum()), int(torch.isinf(x).sum())
        raise ValueError(
            f"{name}: expected finite numbers, got {n_nan} NaN and {n_inf} infinite entries "
            f"of {x.numel()} (shape {tuple(x.shape)}); did something diverge or divide by zero?"
        )
    return x


def check_points(
    x: Any,
    name: str = "x",
    dim: int | None = None,
    like: Tensor | None = None,
    finite: bool = True,
    min_points: int = 0,
) -> Tensor:
    """Check a batch of points of shape (B, d) and return it as a floating tensor.

    Args:
        x: the points, shape (B, d).
        name: the argument's name for error messages.
        dim: the expected d, if known.
        like: take device and dtype from this tensor.
        finite: refuse NaN and inf entries (default), so that they cannot silently spread.
        min_points: the smallest allowed B.
    """
    x = as_tensor(x, name, like=like)
    if x.ndim != 2:
        raise ValueError(
            f"{name}: expected a batch of points of shape (B, d), got shape {tuple(x.shape)}"
        )
    if x.shape[0] < min_points:
        raise ValueError(
            f"{name}: expected at least {min_points} point(s), got shape {tuple(x.shape)}"
        )
    if dim is not None and x.shape[1] != dim:
        raise ValueError(
            f"{name}: expected points of dimension d={dim}, got shape {tuple(x.shape)}"
        )
    return check_finite(x, name) if finite else x


def check_time(
    t: Any,
    batch: int | None = None,
    like: Tensor | None = None,
    name: str = "t",
    values: bool = True,
) -> Tensor:
    """Check a time (a float, a (B,) or a (B, 1) tensor) in [0, 1]; return it as (B, 1) or (1, 1).

    Args:
        t: the time(s), each in [0, 1].
        batch: the batch size B the times must match, if known.
        like: take device and dtype from this tensor.
        name: the argument's name for error messages.

    Returns:
        A tensor of shape (B, 1) (or (1, 1) for a scalar), ready to broadcast against (B, d).
    """
    t = as_tensor(t, name, like=like)
    if t.ndim == 0:
        t = t.reshape(1, 1)
    elif t.ndim == 1:
        t = t[:, None]
    elif not (t.ndim == 2 and t.shape[1] == 1):
        raise ValueError(
            f"{name}: expected a float, a (B,) or a (B, 1) tensor, got shape {tuple(t.shape)}"
        )
    if batch is not None and t.shape[0] not in (1, batch):
        raise ValueError(
            f"{name}: expected {batch} times (one per point) or a single time, got {t.shape[0]}"
        )
    if t.device.type == "meta":  # shapes only (meta tensors have no values to check)
        return t
    if values:
        check_unit_interval(t, name)
    return t


def times_like(t: Any, x: Tensor, name: str = "t") -> Tensor:
    """Times as a tensor broadcastable to x of shape (B, ...): from a float, (B,) or (B, 1)."""
    t = as_tensor(t, name, like=x)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim > 1:
        raise ValueError(
            f"{name}: expected a float, a (B,) or a (B, 1) tensor, got shape {tuple(t.shape)}"
        )
    if t.ndim == 1 and t.shape[0] not in (1, x.shape[0]):
        raise ValueError(
            f"{name}: expected {x.shape[0]} times (one per point) or one, got {t.shape[0]}"
        )
    check_unit_interval(t, name)
    return t.reshape(-1, *([1] * (x.ndim - 1))) if t.ndim == 1 else t


def check_finite_and_times(x: Tensor, t: Tensor, x_name: str = "x", t_name: str = "t") -> None:
    """``check_finite(x)`` and ``check_unit_interval(t)`` with two reductions (a model's checks).

    The sum of x is finite when every entry is (the exact test runs only when it is not, since a sum
    of huge finite entries can overflow); min and max of t come from one reduction. On a GPU the
    three numbers come back in one read (one synchronisation); on the CPU three plain reads are
    cheaper than stacking them first.
    """
    if not t.numel():  # an empty batch: nothing to check (and aminmax has no identity)
        return
    lo, hi = torch.aminmax(t)  # over every entry, whatever t's shape
    total = x.sum()
    if x.is_cpu and t.is_cpu:
        total, lo, hi = float(total), float(lo), float(hi)
    elif x.is_meta or t.is_meta:  # shapes only: no values to check
        return
    else:
        total, lo, hi = torch.stack((total, lo.to(total.dtype), hi.to(total.dtype))).tolist()
    if not math.isfinite(total):
        check_finite(x, x_name)
    if not (0.0 <= lo and hi <= 1.0):  # False for NaN too
        check_unit_interval(t, t_name)


def check_unit_interval(t: Tensor, name: str = "t") -> None:
    """Raise a ValueError naming ``name`` unless every entry of t lies in [0, 1] (NaN never does).

    One reduction (min and max together) and one read back: cheap enough for every model call.
    """
    if t.device.type == "meta" or not t.numel():
        return
    lo, hi = torch.stack(torch.aminmax(t.detach())).tolist()
    if not (0.0 <= lo and hi <= 1.0):  # False for NaN too
        if bool(torch.isnan(t).any()):
            raise ValueError(f"{name}: expected times in [0, 1], got NaN")
        raise ValueError(f"{name}: expected times in [0, 1], got values from {lo:.4g} to {hi:.4g}")


def check_callable(value: Any, name: str, what: str = "a function f(x, t)") -> Any:
    """Return ``value`` if it is callable, else raise a TypeError naming ``name`` and its type."""
    if not callable(value):
        raise TypeError(f"{name}: expected {what}, got {type(value).__name__} {value!r:.60}")
    return value


def check_number(
    value: Any, name: str, minimum: float | None = None, strict: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real number (>= or > minimum).

    Raises a TypeError or ValueError naming ``name`` otherwise.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r:.60}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name}: expected a finite number, got {v}")
    if minimum is not None and (v <= minimum if strict else v < minimum):
        raise ValueError(
            f"{name}: expected a number {'>' if strict else '>='} {minimum:g}, got {v:g}"
        )
    return v


def check_same_shape(a: Tensor, b: Tensor, name_a: str, name_b: str) -> None:
    """Raise a ValueError naming both arguments when their shapes differ."""
    if a.shape != b.shape:
        raise ValueError(
            f"{name_a} and {name_b}: expected the same shape, "
            f"got {tuple(a.shape)} and {tuple(b.shape)}"
        )


def check_positive_int(value: Any, name: str, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= minimum, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {value}")
    return int(value)


def check_labels(y: Any, n: int, num_classes: Any, name: str, check_range: bool = True) -> Tensor:
    """Integer class labels of shape (n,) as int64, from a tensor, NumPy array or list.

    Args:
        y: the labels.
        n: the number of points they label.
        num_classes: the model's ``num_classes``: None (an unconditional model, which would ignore
            labels: refused), an int K (labels in 0..K, K meaning "no label"), or anything else
            (unknown: not range-checked).
        name: the argument's name for error messages.
        check_range: check the range (one read back from the device).
    """
    if num_classes is None:
        raise ValueError(
            f"{name}: got class labels, but the model is unconditional (num_classes=None) and "
            "would ignore them; build it with num_classes=..., or pass the points alone"
        )
    y = y if isinstance(y, Tensor) else torch.as_tensor(np.asarray(y))
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise ValueError(
            f"{name}: expected integer class labels, got dtype {y.dtype} (convert whole-number "
            "labels with .long(); a float label would be truncated)"
        )
    if y.shape != (n,):
        raise ValueError(
            f"{name}: expected one label per point, shape ({n},), got shape {tuple(y.shape)}"
        )
    y = y.long()
    if check_range and isinstance(num_classes, int) and y.numel() and y.device.type != "meta":
        lo, hi = torch.stack(torch.aminmax(y)).tolist()
        if lo < 0 or hi > num_classes:
            raise ValueError(
                f"{name}: expected classes in 0..{num_classes - 1} (or {num_classes}, "
                f"'no label'), got {lo}..{hi}"
            )
    return y


def check_pool(
    data: Any, dtype: torch.dtype, dim: Any, num_classes: Any, labelled: bool
) -> tuple[Tensor, "Tensor | None"]:
    """Check a training pool (N, d), or a (pool, labels) pair, once: (pool, int64 labels or None).

    Args:
        data: a tensor, NumPy array or list of points (N, d), or a pair (points, labels).
        dtype: the pool is converted to it (float64, integer points: the model's dtype).
        dim: the model's dimension d, if known (an int).
        num_classes: the model's ``num_classes`` (see check_labels).
        labelled: labels are required (label_dropout > 0).
    """
    if isinstance(data, tuple) and len(data) != 2:
        raise ValueError(f"data: expected a (pool, labels) pair, got a tuple of {len(data)}")
    pool, labels = data if isinstance(data, tuple) else (data, None)
    pool = as_tensor(pool, "data") if isinstance(pool, (np.ndarray, list)) else pool
    if not isinstance(pool, Tensor) or pool.ndim < 2 or pool.shape[0] == 0:
        got = f"shape {tuple(pool.shape)}" if isinstance(pool, Tensor) else type(pool).__name__
        raise ValueError(
            "data: expected a pool tensor (N, d), a (pool, labels) pair or a sampler callable, "
            f"got {got}"
        )
    pool = as_tensor(pool, "data", dtype=dtype, finite=True)
    if isinstance(dim, int) and pool.ndim == 2 and pool.shape[1] != dim:
        raise ValueError(
            f"data: expected points of dimension {dim} (the model's dim), "
            f"got shape {tuple(pool.shape)}"
        )
    if labels is None and labelled:
        raise ValueError("data: expected (pool, labels) to drop labels (label_dropout > 0)")
    return pool, None if labels is None else check_labels(
        labels, len(pool), num_classes, "data labels"
    )


def check_noise_pool(noise: Any, data: Any, dtype: torch.dtype) -> Tensor:
    """Fixed noise for a checked pool ``data`` (pool, labels) or a sampler: (N, d) like the pool."""
    if callable(data):
        raise TypeError("noise: fixed noise pairs with a pool's rows; data is a sampler")
    noise = as_tensor(noise, "noise", dtype=dtype, finite=True)
    if noise.shape != data[0].shape:
        raise ValueError(
            f"noise: expected one row per pool point, shape {tuple(data[0].shape)}, "
            f"got {tuple(noise.shape)}"
        )
    return noise
