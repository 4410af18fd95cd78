"""The digits recipe: a class-conditional MLP on 8x8 digits, trained with label dropout, guided.

The network learns u_theta(x, t, y) on 64-d digit vectors (``fmtutor.images``) with the CFM loss;
label dropout (the label replaced by "no label" with probability p) trains the unconditional field
in the same network, which classifier-free guidance needs (``fmtutor.guidance``).
"""

from __future__ import annotations

__all__ = [
    "DIGITS_RECIPE",
    "digit_model",
    "sample_digits",
    "evaluate_sampler",
    "DigitRun",
    "train_digits",
]

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ._validate import check_positive_int
from .data import make_generator
from .guidance import CFGVelocity
from .images import SIDE, DigitClassifier, _check_batch, _labels, sample_quality
from .models import MLP
from .solvers import solve
from .training import train_cfm

#: The chapter's recipe: a class-conditional MLP on the 64-d vectors, trained ~20 s on 2 CPU cores.
DIGITS_RECIPE: dict[str, dict[str, Any]] = {
    "model": {"hidden": 256, "depth": 3, "activation": "silu", "n_frequencies": 4},
    "train": {
        "steps": 1500,
        "batch_size": 256,
        "lr": 5e-3,
        "lr_schedule": "cosine",
        "label_dropout": 0.2,
    },
}


def digit_model(seed: int = 0, **overrides: Any) -> nn.Module:
    """A fresh class-conditional MLP(dim=64, num_classes=10) with DIGITS_RECIPE['model'].

    Args:
        seed: seeds the initial weights.
        **overrides: keys of DIGITS_RECIPE['model'] to change.
    """
    unknown = set(overrides) - set(DIGITS_RECIPE["model"])
    if unknown:
        raise ValueError(
            f"overrides: expected keys of {sorted(DIGITS_RECIPE['model'])}, "
            f"got unknown model settings {sorted(unknown)}"
        )
    torch.manual_seed(seed)
    return MLP(dim=SIDE * SIDE, num_classes=10, **{**DIGITS_RECIPE["model"], **overrides})


def sample_digits(
    model: nn.Module,
    labels: Any,
    w: float = 1.0,
    n_steps: int = 10,
    method: str = "midpoint",
    seed: int = 0,
    return_solution: bool = False,
) -> Any:
    """Generate one digit per requested label by integrating the guided velocity from t = 0 to 1.

    The field is u_w(x, t | y) = u(x, t | null) + w (u(x, t | y) - u(x, t | null))
    (fmtutor.guidance.CFGVelocity), started from x_0 ~ N(0, I) drawn with ``seed`` (the same noise
    for every w and solver, so comparisons are paired).

    Args:
        model: a class-conditional network ``model(x, t, y)`` trained with label dropout.
        labels: requested classes, shape (B,).
        w: guidance weight (0: unconditional, 1: conditional, > 1: guided).
        n_steps, method: the ODE solver (see fmtutor.solvers.solve).
        seed: seeds x_0.
        return_solution: return the solvers.Solution (with .nfe and .trajectory) instead of the
            images.

    Returns:
        The images, shape (B, 64), on the CPU (not clipped), or the Solution.
    """
    y = _labels(labels)
    # drawn on the CPU in float32 and moved to the model's device (its dtype is left as drawn)
    x0 = torch.randn(y.shape[0], SIDE * SIDE, generator=make_generator(seed))
    params = [p for p in model.parameters()] if isinstance(model, nn.Module) else []
    if params:
        x0, y = x0.to(params[0].device), y.to(params[0].device)
    was_training = isinstance(model, nn.Module) and model.training
    if was_training:
        model.eval()
    try:
        sol = solve(
            CFGVelocity(model, y, w),
            x0,
            method=method,
            n_steps=n_steps,
            return_trajectory=return_solution,
        )
    finally:
        if was_training:
            model.train()
    return sol if return_solution else sol.x.cpu()


def evaluate_sampler(
    model: nn.Module,
    classifier: DigitClassifier,
    reference: Any,
    w: float = 1.0,
    method: str = "midpoint",
    n_steps: int = 10,
    per_class: int = 50,
    seed: int = 0,
) -> dict[str, Any]:
    """Generate per_class digits of each class 0..9 and measure them (sample_quality).

    Returns:
        sample_quality's dict plus 'w', 'method', 'n_steps', 'nfe' (velocity evaluations of the
        guided field; each costs two network passes when w != 1) and 'per_class' (accuracy per
        requested class, shape (10,)).
    """
    per_class = check_positive_int(per_class, "per_class")
    y = torch.arange(10).repeat_interleave(per_class)
    sol = sample_digits(
        model, y, w=w, n_steps=n_steps, method=method, seed=seed, return_solution=True
    )
    x = sol.x.cpu()
    out = sample_quality(x, y, classifier, reference, seed=seed)
    out.update(
        w=float(w),
        method=method,
        n_steps=n_steps,
        nfe=sol.nfe,
        per_class=classifier.per_class_accuracy(x, y),
    )
    return out


@dataclass
class DigitRun:
    """What train_digits returns.

    Attributes:
        model: the trained network (eval mode).
        losses: CFM loss per step, shape (steps,).
        seconds: wall time of the training loop (snapshots excluded).
        snapshot_steps: the optimisation steps at which snapshots were taken (0 = before training).
        snapshots: generated images at those steps, shape (S, n_snapshot, 64), from the same noise
            and labels.
        snapshot_labels: the labels of the snapshot images, shape (n_snapshot,).
    """

    model: nn.Module
    losses: np.ndarray
    seconds: float
    snapshot_steps: list[int] = field(default_factory=list)
    snapshots: Tensor = field(default_factory=lambda: torch.zeros(0, 0, SIDE * SIDE))
    snapshot_labels: Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.int64))

    def extra(self) -> dict[str, Any]:
        """The run without the model, as plain values (for fmtutor.io.save_model / cached_model)."""
        return {
            "losses": self.losses,
            "seconds": self.seconds,
            "snapshot_steps": list(self.snapshot_steps),
            "snapshots": self.snapshots,
            "snapshot_labels": self.snapshot_labels,
        }

    @classmethod
    def from_extra(cls, model: nn.Module, extra: dict[str, Any]) -> "DigitRun":
        """Rebuild a run from a model and the dict written by extra()."""
        return cls(
            model,
            np.asarray(extra["losses"]),
            float(extra["seconds"]),
            [int(s) for s in extra["snapshot_steps"]],
            torch.as_tensor(extra["snapshots"]),
            torch.as_tensor(extra["snapshot_labels"]),
        )


def train_digits(
    x: Any,
    y: Any,
    steps: "int | None" = None,
    snapshot_steps: Sequence[int] = (),
    snapshot_labels: Any = None,
    snapshot_n_steps: int = 10,
    seed: int = 0,
    progress: bool = True,
    model: "nn.Module | None" = None,
    **train_overrides: Any,
) -> DigitRun:
    """Train a class-conditional velocity network on digit vectors (CFM loss, label dropout).

    Uses fmtutor.training.train_cfm with DIGITS_RECIPE['train'] (overridable). At each step s in
    snapshot_steps (0 = before training, s = after s updates) the current network generates
    ``snapshot_labels`` from fixed noise (midpoint, snapshot_n_steps steps, w = 1), so the rows of
    ``snapshots`` show the same digits improving during training.

    Args:
        x: training images (N, 64) in [-1, 1]. y: labels (N,) in 0..9.
        steps: optimisation steps (default DIGITS_RECIPE['train']['steps']).
        snapshot_steps: when to take snapshots (each in 0..steps).
        snapshot_labels: classes of the snapshot images (default 0..9).
        snapshot_n_steps: midpoint steps used for the snapshots.
        seed: seeds the model, the training draws and the snapshot noise.
        progress: show the progress bar.
        model: a network to train (default digit_model(seed)).
        **train_overrides: other train_cfm arguments (batch_size, lr, label_dropout, ...).

    Returns:
        A DigitRun.
    """
    x = _check_batch(x, "x")
    y = _labels(y, "y")
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"y: expected {x.shape[0]} labels, got {y.shape[0]}")
    cfg = {**DIGITS_RECIPE["train"], **train_overrides}
    steps = check_positive_int(cfg.pop("steps") if steps is None else steps, "steps")
    wanted = sorted({int(s) for s in snapshot_steps})
    if any(s < 0 or s > steps for s in wanted):
        raise ValueError(f"snapshot_steps: expected steps in 0..{steps}, got {wanted}")
    labels = (
        torch.arange(10) if snapshot_labels is None else _labels(snapshot_labels, "snapshot_labels")
    )
    model = digit_model(seed) if model is None else model
    shots: list[Tensor] = []
    spent = [0.0]

    def snap() -> None:
        t0 = time.perf_counter()
        shots.append(
            sample_digits(model, labels, 1.0, snapshot_n_steps, "midpoint", seed=seed + 777)
        )
        spent[0] += time.perf_counter() - t0

    if 0 in wanted:
        snap()
    later = set(wanted) - {0}

    def callback(step: int, loss: float) -> None:
        if step + 1 in later:
            snap()

    cfg.pop("steps", None)
    res = train_cfm(
        model, (x, y), steps=steps, seed=seed, progress=progress, callback=callback, **cfg
    )
    snaps = torch.stack(shots) if shots else torch.zeros(0, labels.shape[0], SIDE * SIDE)
    return DigitRun(model.eval(), res.losses, res.seconds - spent[0], wanted, snaps, labels)
